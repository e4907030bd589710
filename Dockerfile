# Patchbay: an OpenAI-compatible gateway configured by the YAML files in /config.
#
#   docker build -t patchbay .
#   docker run --rm -p 8000:8000 -v "$PWD":/config:ro patchbay
#
# Mount the config *directory*, never single files: editors save by writing a new file
# and renaming it over the old one, which a single-file bind mount never sees.

# Build stage: the wheel (package, JSON Schemas and page templates) and its dependencies,
# with every server `patchbay serve --server` runs on and OpenTelemetry for `telemetry:`
# (not even imported while the config has no `telemetry:` block).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[uvicorn,granian,telemetry]"

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATCHBAY_CONFIG_DIR=/config \
    PATCHBAY_STATE_DIR=/var/lib/patchbay \
    PATCHBAY_HOST=0.0.0.0 \
    PATCHBAY_PORT=8000 \
    PATCHBAY_SERVER=hypercorn
RUN groupadd --system --gid 10001 patchbay \
 && useradd --system --uid 10001 --gid patchbay --home-dir /var/lib/patchbay \
      --no-create-home --shell /usr/sbin/nologin patchbay \
 && mkdir -p /var/lib/patchbay \
 && chown patchbay:patchbay /var/lib/patchbay
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "patchbay[uvicorn,granian,telemetry]" \
 && rm -rf /wheels

# The shipped config is the default; a directory mounted on /config replaces it.
# The config stays read-only: the last good config is kept in PATCHBAY_STATE_DIR.
# PATCHBAY_HOST, PATCHBAY_PORT and PATCHBAY_SERVER above outrank a mounted server.yaml
# (Patchbay logs each value they override); to let the file decide, run the command
# `env -u PATCHBAY_HOST -u PATCHBAY_PORT patchbay serve` (docs/deployment.md).
COPY routes.yaml providers.yaml /config/
COPY config/server.yaml /config/config/server.yaml
VOLUME ["/config"]

USER patchbay
WORKDIR /var/lib/patchbay
EXPOSE 8000
# GET {base_url}/health with port and base_url as the server resolves them: a variable,
# else the mounted config/server.yaml, else the default.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-m", "engine.serving.probe"]
# SIGTERM: refuse new connections, let requests and streams in flight finish (up to
# graceful_timeout, 30 s), end those still running with an error, exit.
STOPSIGNAL SIGTERM
CMD ["patchbay", "serve"]
