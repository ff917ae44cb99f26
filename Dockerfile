# The portal (Flask + the Dash apps) for docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_DATA_DIR=/data

WORKDIR /srv/portal

# Dependencies first, so editing the code does not reinstall them.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /srv/portal --shell /usr/sbin/nologin portal \
    && mkdir -p /data \
    && chown portal:portal /data

USER portal
VOLUME ["/data"]
EXPOSE 8050

HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=30 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=4)"]

CMD ["gunicorn", "--bind", "0.0.0.0:8050", "--workers", "2", "portal.wsgi:app"]
