"""The sales data: generated deterministically, stored as parquet, loaded once per process.

Rows are sorted by (salesman, date), so every salesman's rows are one contiguous range and,
inside it, the dates are sorted: a policy's row set and a date range become a few slices.
The frame uses categoricals and compact dtypes (about 22 bytes a row).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "COLUMNS",
    "SEED",
    "SalesData",
    "data_path",
    "ensure",
    "generate",
    "load",
    "write_parquet",
]

SEED = 20240611
START = dt.date(2023, 1, 1)
END = dt.date(2025, 12, 31)  # inclusive
COLUMNS = ("date", "region", "salesman", "customer", "product", "units", "amount")
REGIONS = ("east", "west", "north", "south")
#: Demo users who sell, with their region (the region of their Keycloak group).
DEMO_SALESMEN = {"alice": "east", "bob": "east", "frank": "west"}
SYNTHETIC_PER_REGION = 10
PRODUCTS = {
    "Analytics Add-on": 650.0,
    "Cloud Basic": 120.0,
    "Cloud Enterprise": 1800.0,
    "Cloud Pro": 450.0,
    "Consulting Hours": 180.0,
    "Data Connector": 300.0,
    "Hardware Kit": 2400.0,
    "Support Premium": 900.0,
    "Support Standard": 200.0,
    "Training Day": 1500.0,
}
_PRODUCT_WEIGHTS = (0.08, 0.2, 0.04, 0.14, 0.12, 0.1, 0.03, 0.06, 0.17, 0.06)
_NAME_A = (
    "Acme",
    "Apex",
    "Beacon",
    "Blue Fin",
    "Cedar",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Helix",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Maple",
    "Nimbus",
    "Northwind",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Vertex",
)
_NAME_B = (
    "Logistics",
    "Foods",
    "Health",
    "Energy",
    "Retail",
    "Labs",
    "Motors",
    "Media",
    "Partners",
    "Systems",
)
CUSTOMERS_PER_REGION = 30


def data_path(data_dir: Path, rows: int, seed: int = SEED) -> Path:
    return Path(data_dir) / "sales" / f"sales-{rows}-{seed}.parquet"


def _salesmen() -> list[tuple[str, str]]:
    people = [(name, region) for name, region in DEMO_SALESMEN.items()]
    for region in REGIONS:
        people += [(f"s-{region}-{i:02d}", region) for i in range(1, SYNTHETIC_PER_REGION + 1)]
    return sorted(people)


def generate(rows: int, seed: int = SEED) -> pa.Table:
    """``rows`` synthetic sales, sorted by (salesman, date), as an Arrow table."""
    rng = np.random.default_rng(seed)
    people = _salesmen()
    names = [p for p, _ in people]
    n_days = (END - START).days + 1

    # Customers belong to one region; a few big accounts per region buy most.
    combos = [f"{a} {b}" for a in _NAME_A for b in _NAME_B]
    picked = rng.choice(len(combos), size=CUSTOMERS_PER_REGION * len(REGIONS), replace=False)
    customers = sorted(combos[i] for i in picked)
    by_region = {
        r: [customers.index(combos[i]) for i in picked[k :: len(REGIONS)]]
        for k, r in enumerate(REGIONS)
    }
    zipf = 1.0 / np.arange(1, CUSTOMERS_PER_REGION + 1) ** 0.9
    zipf /= zipf.sum()

    # Days: weekdays busier than weekends, a yearly season, a steady growth.
    days = np.arange(n_days)
    weekday = (np.datetime64(START, "D") + days).astype("datetime64[D]").view("int64")
    weekday = (weekday + 3) % 7  # Monday = 0
    p_day = np.where(weekday < 5, 1.0, 0.25) * (1 + 0.6 * days / n_days)
    p_day *= 1 + 0.25 * np.sin(2 * np.pi * (days - 60) / 365.25)
    p_day /= p_day.sum()

    share = rng.uniform(0.6, 1.4, size=len(people))
    counts = rng.multinomial(rows, share / share.sum())
    salesman = np.repeat(np.arange(len(people), dtype=np.int8), counts)
    day = np.empty(rows, dtype=np.int32)
    customer = np.empty(rows, dtype=np.int16)
    offset = 0
    for s, (_, region) in enumerate(people):
        n = counts[s]
        day[offset : offset + n] = np.sort(rng.choice(n_days, size=n, p=p_day))
        pool = np.asarray(by_region[region], dtype=np.int16)
        customer[offset : offset + n] = pool[rng.choice(CUSTOMERS_PER_REGION, size=n, p=zipf)]
        offset += n
    regions = sorted(REGIONS)
    region_of = np.array([regions.index(r) for _, r in people], dtype=np.int8)
    product = rng.choice(len(PRODUCTS), size=rows, p=_PRODUCT_WEIGHTS).astype(np.int8)
    units = np.minimum(rng.geometric(0.35, size=rows), 50).astype(np.int16)
    discount = rng.choice(np.array([0.0, 0.05, 0.1, 0.15, 0.2]), size=rows)
    price = np.array(list(PRODUCTS.values()))
    amount = np.round(units * price[product] * (1 - discount), 2)

    def dictionary(codes: np.ndarray, values: list[str] | tuple[str, ...]) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(list(values)))

    return pa.table(
        {
            "date": pa.array(
                np.datetime64(START, "D") + day.astype("timedelta64[D]"), type=pa.date32()
            ),
            "region": dictionary(region_of[salesman], regions),
            "salesman": dictionary(salesman, names),
            "customer": dictionary(customer, customers),
            "product": dictionary(product, list(PRODUCTS)),
            "units": pa.array(units),
            "amount": pa.array(amount),
        }
    )


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write to a private temporary file, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(eq=False)
class SalesData:
    """The frame plus the indexes the app queries with. Immutable once built."""

    path: Path
    frame: pd.DataFrame
    day: np.ndarray  # int16 days since START, per row
    salesman: np.ndarray  # category codes, per row
    product: np.ndarray
    customer: np.ndarray
    amount: np.ndarray
    units: np.ndarray
    salesmen: tuple[str, ...]
    regions: tuple[str, ...]
    products: tuple[str, ...]
    customers: tuple[str, ...]
    salesman_region: np.ndarray  # region code per salesman code
    bounds: np.ndarray  # rows of salesman s are bounds[s]:bounds[s+1]
    start: dt.date
    n_days: int

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.n_days - 1)

    def region_of(self) -> dict[str, str]:
        """The region of each salesman with rows."""
        has_rows = self.bounds[1:] > self.bounds[:-1]
        return {
            name: self.regions[region]
            for name, region, ok in zip(self.salesmen, self.salesman_region, has_rows, strict=True)
            if ok
        }

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, path: Path) -> SalesData:
        for col in ("region", "salesman", "customer", "product"):
            cats = frame[col].cat.categories
            if list(cats) != sorted(cats):
                frame[col] = frame[col].cat.reorder_categories(sorted(cats))
        codes = frame["salesman"].cat.codes.to_numpy()
        epoch = frame["date"].to_numpy().astype("datetime64[D]").view("int64")
        start = dt.date(1970, 1, 1) + dt.timedelta(days=int(epoch.min()))
        day = (epoch - epoch.min()).astype(np.int16)
        if len(codes) and np.any(np.diff(codes.astype(np.int32) * 65536 + day) < 0):
            order = np.lexsort((day, codes))
            frame = frame.iloc[order].reset_index(drop=True)
            return cls.from_frame(frame, path)
        n_days = int(day.max()) + 1 if len(day) else 1
        salesmen = tuple(frame["salesman"].cat.categories)
        regions = tuple(frame["region"].cat.categories)
        products = tuple(frame["product"].cat.categories)
        bounds = np.searchsorted(codes, np.arange(len(salesmen) + 1)).astype(np.int64)
        region_codes = frame["region"].cat.codes.to_numpy()
        salesman_region = np.zeros(len(salesmen), dtype=np.int8)
        for s in range(len(salesmen)):
            own = region_codes[bounds[s] : bounds[s + 1]]
            if len(own):
                if np.any(own != own[0]):
                    raise ValueError(f"salesman {salesmen[s]!r} sells in more than one region")
                salesman_region[s] = own[0]
        product = frame["product"].cat.codes.to_numpy()
        amount = frame["amount"].to_numpy(dtype=np.float64)
        units = frame["units"].to_numpy()
        return cls(
            path=path,
            frame=frame,
            day=day,
            salesman=codes,
            product=product,
            customer=frame["customer"].cat.codes.to_numpy(),
            amount=amount,
            units=units,
            salesmen=salesmen,
            regions=regions,
            products=products,
            customers=tuple(frame["customer"].cat.categories),
            salesman_region=salesman_region,
            bounds=bounds,
            start=start,
            n_days=n_days,
        )


_CACHE: dict[Path, SalesData] = {}
_LOCK = threading.Lock()


def ensure(data_dir: Path, rows: int, seed: int = SEED) -> Path:
    """The parquet file of ``rows`` rows, generated into ``data_dir`` if missing."""
    path = data_path(data_dir, rows, seed).resolve()
    with _LOCK:
        if not path.exists():
            write_parquet(generate(rows, seed), path)
    return path


def load(data_dir: Path, rows: int, seed: int = SEED) -> SalesData:
    """The data of ``rows`` rows, generated into ``data_dir`` on first use; once per process."""
    path = ensure(data_dir, rows, seed)
    with _LOCK:
        if path in _CACHE:
            return _CACHE[path]
        table = pq.read_table(path)
        frame = table.to_pandas(date_as_object=False, split_blocks=True, self_destruct=True)
        del table
        pa.default_memory_pool().release_unused()  # give Arrow's read buffers back to the OS
        data = _CACHE[path] = SalesData.from_frame(frame, path)
        return data
