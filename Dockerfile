# The image of docker-compose.yml's `apps` and `portal` services (docker/container.py):
# `apps` runs supervisord with the apps, `flask db upgrade` (the schema) and `flask
# platform start` (deploys the built-in apps of app/<slug>/ on first start); `portal`, the
# default command, runs one portal replica under gunicorn on TCP port 8000 of the compose
# network, which the frontdoor service (nginx, docker/frontdoor/) reaches.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORTAL_DATA_DIR=/data \
    PORTAL_APPS_DIR=/data/apps \
    PORTAL_FRONTDOOR_GROUP=frontdoor \
    UV_CACHE_DIR=/data/cache/uv

# nginx's workers in the frontdoor service run as group nginx, gid 101 in the official
# images: this group has that gid, so socket folders of group frontdoor let them in.
# (Before any package can take that gid for a system group.)
ARG FRONTDOOR_GID=101
RUN groupadd --gid "${FRONTDOOR_GID}" frontdoor

# bubblewrap: the app sandbox, used when the container allows it (the portal probes it);
# setpriv (util-linux): each app runs as its own uid.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/portal

# Dependencies first, so editing the code does not reinstall them: the lock, which also
# pins what hosts the apps (supervisor runs them, uv builds their environments).
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY . .
RUN pip install --no-deps -e . \
    && python docker/container.py nginx-conf --check \
    && mkdir -p /data

# Root, as `make up` run by root: supervisord starts each app as its own unprivileged uid
# and the portal hands each app's folders to that uid.
USER root
VOLUME ["/data"]

HEALTHCHECK --interval=10s --timeout=5s --start-period=15m --retries=30 \
    CMD ["python", "docker/container.py", "healthcheck"]

CMD ["python", "docker/container.py", "portal"]
