# syntax=docker/dockerfile:1
# The chat server's images (docs/deploy.md):
#   target "runtime" (the default): the server, non-root, started by deploy/serve.sh
#   target "proxy": nginx with the shared proxy configuration and the collected static files
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NGINX_IMAGE=nginx:1.27-alpine

# --- build: the pinned requirements in a virtualenv (all binary wheels, no compiler) ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# libmagic: attachment types are sniffed from their bytes (python-magic); Django loads it at start-up.
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /venv
COPY requirements.txt /tmp/requirements.txt
RUN /venv/bin/pip install -r /tmp/requirements.txt

# --- static: collectstatic (hashed names, gzip copies) for WhiteNoise and for nginx -----
FROM build AS static
WORKDIR /src
COPY . .
RUN DEBUG=1 STATIC_FROM_SOURCE=0 VAR_DIR=/build \
    /venv/bin/python manage.py collectstatic --noinput --verbosity 0 \
 && rm -f /build/dev-secret-key /build/db.sqlite3*

# --- runtime: what runs in production -----------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DEBUG=0 \
    VAR_DIR=/var/lib/chat \
    HOST=0.0.0.0 \
    PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends libmagic1 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home chat \
 && mkdir -p /var/lib/chat/media /var/lib/chat/secret \
 && chown -R chat:chat /var/lib/chat
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=root:root . .
COPY --from=static --chown=root:root /build/staticfiles /var/lib/chat/staticfiles
USER chat
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["python", "-c", "import urllib.request, sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# SIGTERM: sockets close with 1012, requests finish, the process exits (chatproject/shutdown.py).
STOPSIGNAL SIGTERM
CMD ["deploy/serve.sh"]

# --- proxy: nginx in front of the web processes ---------------------------------------------
FROM ${NGINX_IMAGE} AS proxy
# The image renders /etc/nginx/templates/*.template with envsubst at start-up.
RUN rm -f /etc/nginx/conf.d/default.conf
COPY deploy/nginx/chat.conf.template /etc/nginx/templates/chat.conf.template
COPY --from=static /build/staticfiles /srv/static
ENV CHAT_LISTEN=80 \
    CHAT_UPSTREAMS="server web:8000 max_fails=1 fail_timeout=5s;" \
    CHAT_STATIC_ROOT=/srv/static \
    CHAT_MEDIA_ROOT=/srv/media

# The last stage is what a plain `docker build .` makes: the server.
FROM runtime
