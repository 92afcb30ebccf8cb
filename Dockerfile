# The shared HTTP server (docs/deployment.md): `docker compose up -d` with compose.yaml, or
#   docker build -t atlas-mcp-py .
#   docker run -d -p 127.0.0.1:8765:8765 -e ATLASCLOUD_API_KEY -e ATLAS_MCP_HTTP_TOKEN \
#     -v atlas-mcp-state:/data/state atlas-mcp-py
# CI replays the build stage in a fresh venv and runs the final CMD and HEALTHCHECK from it
# (tests/e2e/test_release.py), and lints this file with hadolint.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/atlas-mcp
WORKDIR /src
COPY pyproject.toml README.md LICENSE MANIFEST.in ./
COPY atlas_mcp_py ./atlas_mcp_py
RUN python -m venv "$VIRTUAL_ENV" \
    && "$VIRTUAL_ENV/bin/pip" wheel --no-cache-dir --no-deps --wheel-dir dist . \
    && "$VIRTUAL_ENV/bin/pip" install --no-cache-dir "$(echo dist/atlas_mcp_py-*.whl)[postgres]" \
    && "$VIRTUAL_ENV/bin/atlas-mcp" --version

FROM python:3.11-slim
LABEL org.opencontainers.image.title="atlas-mcp-py" \
      org.opencontainers.image.description="MCP server for Atlas Cloud video generation, over streamable HTTP" \
      org.opencontainers.image.source="https://github.com/atlas-mcp-py/atlas-mcp-py" \
      org.opencontainers.image.licenses="MIT" \
      io.modelcontextprotocol.server.name="io.github.atlas-mcp-py/atlas-mcp-py"
# The job ledger lives on the /data/state volume: every paid job is written there before
# the server waits on it, so it must outlive the container. Uploads are read from and
# videos saved into /data/work (mount a directory there, or pass https:// image URLs).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/atlas-mcp/bin:$PATH" \
    ATLAS_MCP_STATE_DIR=/data/state \
    ATLAS_MCP_ROOTS=/data/work
COPY --from=build /opt/atlas-mcp /opt/atlas-mcp
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /data atlas \
    && mkdir -p /data/state /data/work \
    && chown -R atlas:atlas /data
USER 10001:10001
WORKDIR /data/work
VOLUME ["/data/state"]
EXPOSE 8765
# slim has no curl: the venv's Python asks /healthz (no token needed, says only "ok").
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8765/healthz', timeout=4).status != 200)"]
# Exec form: atlas-mcp is PID 1 and gets SIGTERM itself; it hands in-flight waits back
# (their jobs are in the ledger) and exits 0. It refuses to bind 0.0.0.0 without
# ATLAS_MCP_HTTP_TOKEN.
STOPSIGNAL SIGTERM
CMD ["atlas-mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8765"]
