#!/bin/sh
# The front door of docker-compose.yml: nginx, re-reading the per-app routes whenever the
# portal changes them (in local mode the portal signals nginx itself; across containers it
# cannot). A reload is graceful: requests in flight finish on the old workers.
set -eu
routes=/data/apps/run/.routes
mkdir -p "$routes" 2>/dev/null || true
nginx -g 'daemon off;' &
nginx_pid=$!
trap 'kill -QUIT "$nginx_pid"; wait "$nginx_pid"; exit 0' TERM INT QUIT
seen=""
while kill -0 "$nginx_pid" 2>/dev/null; do
    now=$( (ls "$routes"; cat "$routes"/*.conf) 2>/dev/null | md5sum)
    if [ -n "$seen" ] && [ "$now" != "$seen" ]; then
        nginx -s reload || true
    fi
    seen=$now
    sleep 1
done
wait "$nginx_pid"
