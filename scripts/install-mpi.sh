#!/usr/bin/env bash
# Installs OpenMPI from Debian's packages, plus what the `mpi` crate (rsmpi)
# needs to build: its build script finds MPI with `mpicc -show`/pkg-config and
# generates bindings with bindgen (libclang).
#
# Idempotent: installs only what is missing. Run as root:
#     sudo scripts/install-mpi.sh
# Used by CI before `cargo test -p dl-dist --features mpi`.
set -euo pipefail

packages=(libopenmpi-dev openmpi-bin libclang-dev clang pkg-config)
missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-mpi: all present (${packages[*]})"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-mpi: missing ${missing[*]}; run as root" >&2
        exit 1
    fi
    echo "install-mpi: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

mpirun --version | head -n 1
