#!/usr/bin/env bash
# Makes NVRTC (NVIDIA's runtime CUDA compiler, a plain shared library that
# needs no GPU and no driver) available, so that the `cuda` feature's tests
# compile every CUDA module to PTX on any machine. Prints the folder that
# holds libnvrtc.so.* as its last line; use it as
#
#   LD_LIBRARY_PATH="$(bash scripts/install-nvrtc.sh | tail -n 1)" \
#     DL_REQUIRE_NVRTC=1 cargo test --workspace --features cuda
#
# Looks first in a CUDA toolkit and in Python's site-packages (NVIDIA's
# wheels, which PyTorch installs); otherwise installs the PyPI wheel
# `nvidia-cuda-nvrtc` (about 60 MB) into $DL_NVRTC_DIR (default
# /opt/dl-nvrtc), without touching the system's Python packages.
# Idempotent. Installs python3 and pip from Debian first when absent (root).
set -euo pipefail
DIR="${DL_NVRTC_DIR:-/opt/dl-nvrtc}"

find_lib() {
    local roots=("$DIR" /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
    if command -v python3 >/dev/null 2>&1; then
        while IFS= read -r p; do roots+=("$p/nvidia"); done < <(
            python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
    fi
    local r lib
    for r in "${roots[@]}"; do
        [ -d "$r" ] || continue
        lib="$(find "$r" -maxdepth 4 \( -name 'libnvrtc.so.13' -o -name 'libnvrtc.so.12' \) 2>/dev/null | sort -r | head -n 1)"
        if [ -n "$lib" ]; then
            dirname "$lib"
            return 0
        fi
    done
    return 1
}

if found="$(find_lib)"; then
    echo "install-nvrtc: NVRTC already present" >&2
    echo "$found"
    exit 0
fi

if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-nvrtc: python3 with pip is missing; run as root to install it" >&2
        exit 1
    fi
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-pip >&2
fi
python3 -m pip install --quiet --no-deps --target "$DIR" nvidia-cuda-nvrtc >&2
found="$(find_lib)" || { echo "install-nvrtc: installed, but no libnvrtc.so.13/.so.12 under $DIR" >&2; exit 1; }
echo "install-nvrtc: NVRTC installed under $DIR" >&2
echo "$found"
