#!/usr/bin/env bash
# The processor's GPU path on one machine, without Kafka or MinIO: masks against the CPU,
# images/s per batch size and precision, the prepare -> infer -> finish ceiling, GPU memory
# and nvidia-smi utilisation. Writes gpu_check.json and gpu_check.md. See bench/GPU.md.
#
#   bench/gpu_check.sh --fetch-wheels     here, with the registries: the Python packages a GPU
#                                         machine without them needs, into .whl/ (or
#                                         $GPU_CHECK_WHEELS)
#   bench/gpu_check.sh [OPTIONS]          on the GPU machine (python3 with PyTorch); installs
#                                         nothing from the network, only the wheels there
#   bench/gpu_check.sh --help             every option of the check
set -euo pipefail
cd "$(dirname "$0")/.."

# Missing from a stock PyTorch image, pinned to what the project is tested with; their own
# dependencies (numpy, onnx, onnxruntime, OpenCV, Pillow, attrs, typing-extensions) are there.
WHEELS=(
  annotated-types==0.8.0 pydantic==2.14.4 pydantic-core==2.50.5 pydantic-settings==2.16.3
  python-dotenv==1.2.4 typing-inspection==0.4.5 jsonschema==4.26.0
  jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  onnx2torch==1.5.15
)
PYTHON=${PYTHON:-python3}
WHEEL_DIR=${GPU_CHECK_WHEELS:-.whl}

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  PLATFORMS=()
  for tag in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64; do
    PLATFORMS+=(--platform "$tag")
  done
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "${WHEEL_PYTHON:-3.12}" \
    --implementation cp "${PLATFORMS[@]}" -d "$WHEEL_DIR" "${WHEELS[@]}"
  du -sh "$WHEEL_DIR"
  exit 0
fi

if compgen -G "$WHEEL_DIR/*.whl" > /dev/null; then
  SITE=$(mktemp -d)
  "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir \
    --target "$SITE" "$WHEEL_DIR"/*.whl
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m bench.gpu_check "$@"
