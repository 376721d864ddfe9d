# syntax=docker/dockerfile:1
# The UI: the Gradio app with the `ui` dependency group only, run as a non-root user.
#   docker build -f docker/ui.Dockerfile -t movie-gpt/ui .      (from the repository root)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml constraints.txt ./
# pip reads [dependency-groups] from pyproject.toml since 25.1; constraints.txt pins the rest.
RUN pip install "pip==26.3" && pip install -c constraints.txt --group ui

FROM ${PYTHON_IMAGE}
# A container must listen on all interfaces; the UI's own default is loopback.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_ANALYTICS_ENABLED=False
RUN useradd --create-home --uid 10001 --user-group app
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY ui/ ui/
USER 10001:10001
EXPOSE 7860
# The port is the one the settings resolve (GRADIO_SERVER_PORT, Cloud Run's PORT, UI_PORT, 7860).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; from ui.settings import settings; urllib.request.urlopen(f'http://127.0.0.1:{settings.server_port}/', timeout=4)"]
CMD ["python", "-m", "ui"]
