# Clearcut services on CPython: upload (with the projector), notifier and webhooks by default;
# `--build-arg EXTRAS=processor` gives a CPU-only processor image.
# Build from the repository root: docker build -f deploy/docker/python.Dockerfile .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE}

ARG EXTRAS=upload,notifier,webhooks

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

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
