"""Open-loop load: requests sent on a schedule, whether or not earlier ones have answered.

A closed loop (wrk: each connection waits for its answer) slows down with the server and
so hides queueing. Here arrivals are a Poisson process of ``rate`` per second, each from a
randomly chosen signed-in session, as people clicking independently would send them; a
request that takes long does not delay the next. Latency counts from the scheduled time,
so a client that falls behind shows up in the figures instead of thinning the load.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

__all__ = ["LoadResult", "Outcome", "run_open_loop"]

#: The portal's session cookie (portal.auth.session_store.SESSION_COOKIE_NAME).
SESSION_COOKIE = "dash_portal_session"


@dataclass(frozen=True)
class Outcome:
    """One request: when it was due (s from the start), how long it took, what came back."""

    due: float
    latency_ms: float
    status: int  # 0: no answer (connection error or timeout)
    error: str = ""


@dataclass
class LoadResult:
    """Every request of one run, and the figures read from them."""

    rate: float
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not 200 <= o.status < 300]

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile latency in ms of the answered requests."""
        times = sorted(o.latency_ms for o in self.outcomes if o.status)
        if not times:
            return float("nan")
        return times[min(len(times) - 1, round(q / 100 * (len(times) - 1)))]

    @property
    def elapsed(self) -> float:
        """From the start to the last answer (longer than ``seconds`` once answers queue)."""
        ends = [o.due + o.latency_ms / 1000 for o in self.outcomes]
        return max([self.seconds, *ends])

    @property
    def throughput(self) -> float:
        """Successful answers per second, from the start until the last answer."""
        return (len(self.outcomes) - len(self.failed)) / self.elapsed

    def statuses(self) -> Counter[int]:
        return Counter(o.status for o in self.outcomes)

    def line(self) -> str:
        return (
            f"offered {self.rate:6.1f}/s  answered {self.throughput:6.1f}/s  "
            f"p50 {self.percentile(50):7.1f} ms  p95 {self.percentile(95):7.1f} ms  "
            f"p99 {self.percentile(99):7.1f} ms  failed {len(self.failed)}"
        )


async def _send(
    client: httpx.AsyncClient, url: str, body: bytes, cookie: str, due: float, start: float
) -> Outcome:
    headers = {"Content-Type": "application/json", "Cookie": f"{SESSION_COOKIE}={cookie}"}
    try:
        answer = await client.post(url, content=body, headers=headers)
        status, error = answer.status_code, "" if answer.is_success else answer.text[:200]
    except httpx.HTTPError as exc:
        status, error = 0, f"{type(exc).__name__}: {exc}"
    return Outcome(due, (time.perf_counter() - start - due) * 1000, status, error)


async def _run(
    url: str,
    body_for: Callable[[int], bytes],
    cookies: Sequence[str],
    rate: float,
    seconds: float,
    timeout: float,
    seed: int,
) -> list[Outcome]:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=len(cookies), max_keepalive_connections=len(cookies))
    # A 307 is the front door's "send it again" (an app woken, a decision retried), which a
    # browser follows: so does this client.
    async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=True) as client:
        start = time.perf_counter()
        due, tasks, index = 0.0, [], 0
        while True:
            due += rng.expovariate(rate)
            if due >= seconds:
                break
            delay = start + due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            cookie = cookies[rng.randrange(len(cookies))]
            tasks.append(
                asyncio.create_task(_send(client, url, body_for(index), cookie, due, start))
            )
            index += 1
        return list(await asyncio.gather(*tasks))


def run_open_loop(
    url: str,
    body_for: Callable[[int], bytes],
    cookies: Sequence[str],
    *,
    rate: float,
    seconds: float,
    timeout: float = 30.0,
    seed: int = 1,
) -> LoadResult:
    """POST ``body_for(i)`` to ``url`` at ``rate`` per second for ``seconds``, each request
    from one of the sessions whose cookie values are ``cookies``."""
    outcomes = asyncio.run(_run(url, body_for, cookies, rate, seconds, timeout, seed))
    return LoadResult(rate=rate, seconds=seconds, outcomes=outcomes)
