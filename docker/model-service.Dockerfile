# syntax=docker/dockerfile:1
# The model service: `bentoml serve` with the `model` dependency group only (onnxruntime and
# tokenizers; no torch, no transformers) and the model bundle registered in the image's BentoML
# store at build time, so nothing is downloaded at start. Run as a non-root user.
#   docker build -f docker/model-service.Dockerfile -t movie-gpt/model-service .   (repository root)
#   --build-arg MODEL_BUNDLE=<bundle dir inside the repository> bakes another bundle in.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml constraints.txt ./
# pip reads [dependency-groups] from pyproject.toml since 25.1; constraints.txt pins the rest.
RUN pip install "pip==26.3" && pip install -c constraints.txt --group model

# The store is filled by the project's own registration (load, score once, copy), as `make` does.
FROM deps AS store
ENV BENTOML_HOME=/opt/bentoml BENTOML_DO_NOT_TRACK=true
COPY model_service/ model_service/
COPY training/__init__.py training/options.py training/data.py training/register.py training/
ARG MODEL_BUNDLE=models/korean-sentiment
COPY ${MODEL_BUNDLE}/ /bundle/
# The registration function itself: the command line's parser (transformers) is not in this image.
RUN python -c "import sys; from training.register import register_bundle; register_bundle(sys.argv[1])" /bundle

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    BENTOML_HOME=/opt/bentoml BENTOML_DO_NOT_TRACK=true
RUN useradd --create-home --uid 10001 --user-group app
COPY --from=deps /opt/venv /opt/venv
# BentoML writes beside its store at start, so the app user owns it.
COPY --from=store --chown=10001:10001 /opt/bentoml /opt/bentoml
WORKDIR /app
COPY model_service/ model_service/
USER 10001:10001
EXPOSE 3000
# The store holds one version, so MODEL_TAG's default (korean-sentiment:latest) names it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT:-3000}/readyz', timeout=4)"
# Cloud Run tells the container its port in PORT; 3000 otherwise.
CMD ["sh", "-c", "exec bentoml serve model_service.service:SentimentService --host 0.0.0.0 --port \"${PORT:-3000}\""]
