#!/usr/bin/env bash
# Installs what tests/onnx_export.rs needs to check exported models: the
# Python packages `onnx` (checker), `onnxruntime` (inference) and `numpy`,
# from PyPI, where they are missing. Idempotent: does nothing when
# `python3 -c "import onnx, onnxruntime, numpy"` already works.
# Installs python3 and pip from Debian first when they are absent (as root).
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-onnx: python3 with pip is missing; run as root to install it" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip
fi

if python3 -c "import onnx, onnxruntime, numpy" >/dev/null 2>&1; then
    echo "install-onnx: onnx, onnxruntime and numpy already present"
else
    # Debian's python3 refuses system-wide pip installs without this flag (PEP 668).
    flags=()
    if python3 -m pip install --help 2>/dev/null | grep -q -- --break-system-packages; then
        flags+=(--break-system-packages)
    fi
    python3 -m pip install --quiet "${flags[@]}" onnx onnxruntime numpy
fi
python3 -c "import onnx, onnxruntime, numpy; print('install-onnx: onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__, 'numpy', numpy.__version__)"
