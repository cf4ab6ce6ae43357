#!/usr/bin/env bash
# CUDA checks from prebuilt binaries.
#
#   scripts/gpu_check.sh bundle        # on any machine (no GPU needed): build the
#                                      # CUDA test binaries into target/gpu-bundle/
#   scripts/gpu_check.sh run [DIR]     # on the GPU machine: run them (DIR defaults
#                                      # to target/gpu-bundle), well under 8 minutes
#
# On a GPU machine a test that prints "skipped: no CUDA driver/GPU" is a
# failure of this script: the point is to run the parity suite for real.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"

if [[ "$mode" == bundle ]]; then
    out=target/gpu-bundle
    rm -rf "$out" && mkdir -p "$out"
    # The test executables of dl-core (feature cuda) and dl-cuda.
    cargo test -p dl-core --features cuda --lib --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | while read -r exe; do cp "$exe" "$out/dl_core_cuda_tests"; done
    cargo test -p dl-cuda --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | while read -r exe; do cp "$exe" "$out/dl_cuda_$(basename "$exe" | cut -d- -f1)"; done
    cp "$0" "$out/"
    ls -l "$out"
    echo "copy $out to the GPU machine and run: ./gpu_check.sh run ."
    exit 0
fi

dir="${2:-target/gpu-bundle}"
[[ -d "$dir" ]] || { echo "no bundle at $dir (run: scripts/gpu_check.sh bundle)"; exit 2; }
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv || true; fi
# pip's CUDA libraries (nvidia-*-cu12/cu13 wheels) when no toolkit is installed.
for d in /usr/local/cuda/lib64 $(python3 -c 'import nvidia,os;print(" ".join(os.path.join(p,s,"lib") for p in nvidia.__path__ for s in os.listdir(p)))' 2>/dev/null || true); do
    [[ -d "$d" ]] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done

status=0
for t in "$dir"/dl_cuda_* "$dir"/dl_core_cuda_tests; do
    [[ -x "$t" ]] || continue
    echo "== $(basename "$t")"
    filter=""
    [[ "$(basename "$t")" == dl_core_cuda_tests ]] && filter="cuda::"
    log=$(mktemp)
    if ! timeout 300 "$t" $filter --nocapture --test-threads=1 2>&1 | tee "$log"; then status=1; fi
    if grep -q "skipped: no CUDA" "$log"; then
        echo "FAIL: CUDA tests skipped on this machine (see the reason above)"; status=1
    fi
done

# GPU benchmarks (B1-gpu MLP batch 1024, B2-gpu CNN batch 256) need the layers
# to run on Cuda, i.e. `Cuda: Backend`; the bench binary does not exist yet.
if [[ -x "$dir/gpu_bench" ]]; then
    "$dir/gpu_bench"
    if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null && [[ -f bench/torch_gpu.py ]]; then
        python3 bench/torch_gpu.py
    fi
else
    echo "== benchmarks: not available (no gpu_bench binary in $dir; Cuda is not yet a full Backend)"
fi
exit $status
