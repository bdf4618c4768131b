# syntax=docker/dockerfile:1
# One image for every valuestream process; docker-compose.yml and deploy/k8s/ choose the command:
#   api        python -m api
#   worker     python -m consumers --index 0          (metrics on :9100)
#   dashboard  streamlit run dashboard/app.py --server.port 8501 --server.address 0.0.0.0 --server.headless true
#   training   python -m training
#   registry   mlflow server ...
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The locked dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

FROM ${PYTHON_IMAGE}
# /data is the state folder (VALUESTREAM_STATE_DIR): MLflow's sqlite file and artifacts live on volumes
# mounted under it, which Docker initialises with this ownership.
RUN groupadd --system --gid 10001 valuestream \
    && useradd --system --uid 10001 --gid valuestream --create-home --home-dir /home/valuestream \
       --shell /usr/sbin/nologin valuestream \
    && mkdir -p /data/mlflow/db /data/mlflow/artifacts \
    && chown -R valuestream:valuestream /data
WORKDIR /app
# Code and virtualenv stay owned by root: the processes can read them, not change them.
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VALUESTREAM_STATE_DIR=/data \
    VALUESTREAM_API_HOST=0.0.0.0
USER 10001:10001
EXPOSE 8000 8501 9100 5000
CMD ["python", "-m", "api"]
