#!/bin/sh
# The production server command, one for every way of running the chat server: the
# README, the Dockerfile, `make cluster` and Kubernetes all start this script.
#
# uvicorn (measured fastest in docs/benchmarks.md) with WEB_CONCURRENCY worker processes
# under its own supervisor; uvicorn's sans-I/O WebSocket protocol holding less per socket
# and closing a failed connection cleanly (chatproject/uvicorn_ws.py); the WebSocket
# implementation's own 64 KiB frame limit (a bigger frame closes with 1009 before the
# application reads it); no permessage-deflate
# (every browser offers it, and a zlib context per socket cost ~100 KiB of memory, 135
# instead of 37 KiB per idle socket, plus compressing every frame once per socket in a
# fan-out: chat frames are small, so memory and CPU matter more); X-Forwarded-For and
# X-Forwarded-Proto believed only from TRUSTED_PROXIES; on SIGTERM sockets are closed
# with 1012 (chatproject/shutdown.py), then HTTP requests get SHUTDOWN_GRACE_SECONDS.
#
# Environment: HOST (0.0.0.0), PORT (8000), WEB_CONCURRENCY (CPU count), TRUSTED_PROXIES
# (empty: trust no forwarded headers), SHUTDOWN_GRACE_SECONDS (10), plus the server's own
# settings (README "Configuration").
set -eu
cd "$(dirname "$0")/.."

if [ -x .venv/bin/uvicorn ] && [ -z "${VIRTUAL_ENV:-}" ]; then
  PATH="$PWD/.venv/bin:$PATH"
fi

workers="${WEB_CONCURRENCY:-$(nproc 2>/dev/null || echo 1)}"
grace="${SHUTDOWN_GRACE_SECONDS:-10}"
# uvicorn waits this long for HTTP requests once the sockets are drained (whole seconds).
grace_int="${grace%.*}"

if [ -n "${TRUSTED_PROXIES:-}" ]; then
  proxy_flags="--proxy-headers --forwarded-allow-ips=${TRUSTED_PROXIES}"
else
  proxy_flags="--no-proxy-headers"
fi

if [ "$workers" -gt 1 ]; then
  # Several workers answer on one port: each /metrics then reports the sum of all of them.
  PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-${TMPDIR:-/tmp}/chat-metrics-$$}"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR"
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  export PROMETHEUS_MULTIPROC_DIR
fi

# shellcheck disable=SC2086  # proxy_flags is two words on purpose
exec uvicorn chatproject.asgi:application \
  --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}" \
  --workers "$workers" \
  --loop uvloop --http httptools \
  --ws chatproject.uvicorn_ws:LeanWebSocketProtocol --ws-max-size 65536 --ws-per-message-deflate false \
  $proxy_flags \
  --timeout-graceful-shutdown "$((grace_int + 1))" \
  --no-access-log \
  --lifespan off
