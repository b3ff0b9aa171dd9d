# The processor on a CUDA runtime with onnxruntime-gpu. ONNX Runtime uses the CUDA provider
# when the container gets a GPU (NVIDIA container toolkit) and falls back to the CPU provider
# otherwise, so the same image runs everywhere.
# Build from the repository root: docker build -f deploy/docker/processor.Dockerfile .
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04

FROM ${CUDA_IMAGE}

ARG EXTRAS=gpu

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Ubuntu 22.04 ships Python 3.10; 3.11 comes from the same archive (universe).
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && pip install --upgrade pip

RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/clearcut clearcut \
    && mkdir -p /var/lib/clearcut /var/cache/clearcut/models \
    && chown -R clearcut:clearcut /var/lib/clearcut /var/cache/clearcut

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that a source change reuses this layer.
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in os.environ['EXTRAS'].split(',') if e]; print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install ".[${EXTRAS}]" \
    && pip check \
    && rm -rf /src

USER clearcut
WORKDIR /var/lib/clearcut

CMD ["clearcut", "--help"]
