# syntax=docker/dockerfile:1
# The gateway: FastAPI + SQLAlchemy with the `gateway` dependency group only, run as a non-root user.
#   docker build -f docker/gateway.Dockerfile -t movie-gpt/gateway .      (from the repository root)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml constraints.txt ./
# pip reads [dependency-groups] from pyproject.toml since 25.1; constraints.txt pins the rest.
RUN pip install "pip==26.3" && pip install -c constraints.txt --group gateway

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid 10001 --user-group app
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY gateway/ gateway/
# Without DATABASE_URL the gateway falls back to a SQLite file under state/.
RUN mkdir state && chown app:app state
USER 10001:10001
EXPOSE 8000
# /health answers 503 while the database does not; the port is the one the settings resolve
# (Cloud Run's PORT, else GATEWAY_PORT, else 8000).
HEALTHCHECK --interval=10s --timeout=5s --start-period=45s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from gateway.settings import settings; urllib.request.urlopen(f'http://127.0.0.1:{settings.gateway_port}/health', timeout=4)"]
# The app's startup waits for the database and applies the Alembic migrations before serving.
CMD ["python", "-m", "gateway"]
