# Patchbay: an OpenAI-compatible gateway configured by the YAML files in /config.
#
#   docker build -t patchbay .
#   docker run --rm -p 8000:8000 -v "$PWD":/config:ro patchbay
#
# Mount the config *directory*, never single files: editors save by writing a new file
# and renaming it over the old one, which a single-file bind mount never sees.

# Build stage: the wheel (package, JSON Schemas and page templates) and its dependencies.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATCHBAY_CONFIG_DIR=/config \
    PATCHBAY_STATE_DIR=/var/lib/patchbay \
    PATCHBAY_HOST=0.0.0.0 \
    PATCHBAY_PORT=8000
RUN groupadd --system --gid 10001 patchbay \
 && useradd --system --uid 10001 --gid patchbay --home-dir /var/lib/patchbay \
      --no-create-home --shell /usr/sbin/nologin patchbay \
 && mkdir -p /var/lib/patchbay \
 && chown patchbay:patchbay /var/lib/patchbay
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels patchbay \
 && rm -rf /wheels

# The shipped config is the default; a directory mounted on /config replaces it.
# The config stays read-only: the last good config is kept in PATCHBAY_STATE_DIR.
COPY routes.yaml providers.yaml /config/
COPY config/server.yaml /config/config/server.yaml
VOLUME ["/config"]

USER patchbay
WORKDIR /var/lib/patchbay
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PATCHBAY_PORT', '8000') + os.environ.get('PATCHBAY_BASE_URL', '') + '/health', timeout=2)"]
# SIGTERM: stop accepting, let requests and streams in flight finish (up to 30 s), exit.
STOPSIGNAL SIGTERM
CMD ["patchbay", "serve"]
