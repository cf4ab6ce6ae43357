#!/usr/bin/env bash
# CUDA checks from prebuilt binaries.
#
#   scripts/gpu_check.sh bundle        # on any machine (no GPU needed): build the
#                                      # CUDA test binaries into target/gpu-bundle/
#   scripts/gpu_check.sh run [DIR]     # on the GPU machine: run them (DIR defaults
#                                      # to target/gpu-bundle), well under 10 minutes
#
# On a GPU machine a test that cannot run is a failure of this script (it
# sets DL_REQUIRE_GPU=1, so such a test panics instead of printing
# "skipped: ..."): the point is to run the parity suite for real.
set -euo pipefail
caller="$PWD"
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
    # Generic #[network]s on Cuda against the CPU (tests/cuda_network.rs).
    cargo test --features cuda --test cuda_network --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*"' | cut -d'"' -f4 | while read -r exe; do cp "$exe" "$out/dl_cuda_network"; done
    # The GPU benchmarks (release) and PyTorch's twin.
    cargo build --release --features cuda --example bench_gpu --example mnist_cnn
    cp target/release/examples/bench_gpu "$out/gpu_bench"
    # The main job on the GPU, in f32 and in bf16 autocast (issue 20's accuracy target).
    cp target/release/examples/mnist_cnn "$out/mnist_cnn"
    cp bench/bench_torch_gpu.py bench/bench_torch.py "$out/"   # the first imports the second
    # The golden cases that tests/cuda_network.rs runs on the GPU.
    cp -r tests/golden "$out/golden"
    cp "$0" "$out/"
    # Without symbols the bundle is about 12 MB instead of 240.
    strip "$out"/dl_* "$out/gpu_bench" "$out/mnist_cnn" 2>/dev/null || true
    ls -l "$out"
    echo "copy $out to the GPU machine and run: ./gpu_check.sh run ."
    exit 0
fi

dir="${2:-target/gpu-bundle}"
# DIR is relative to where the script was called from (or to the repository for the default).
[[ "$dir" = /* || $# -lt 2 ]] || dir="$caller/$dir"
[[ -d "$dir" ]] || { echo "no bundle at $dir (run: scripts/gpu_check.sh bundle)"; exit 2; }
dir="$(cd "$dir" && pwd)"
if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv || true; fi
# CUDA libraries: the toolkit's, or else pip's (nvidia-*-cu12/cu13 wheels),
# never both: libcublas.so of one and libcublasLt.so of the other give wrong
# products. DL_CUDA_LIB overrides the choice.
libdirs="${DL_CUDA_LIB:-}"
if [[ -z "$libdirs" && -d /usr/local/cuda/lib64 ]]; then
    libdirs=/usr/local/cuda/lib64
elif [[ -z "$libdirs" ]]; then
    libdirs=$(python3 -c 'import nvidia,os;print(":".join(os.path.join(p,s,"lib") for p in nvidia.__path__ for s in os.listdir(p)))' 2>/dev/null || true)
fi
[[ -n "$libdirs" ]] && export LD_LIBRARY_PATH="$libdirs:${LD_LIBRARY_PATH:-}"
echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"

[[ -d "$dir/golden" ]] && export DL_GOLDEN_DIR="$dir/golden"
# Every CUDA test fails instead of skipping when it cannot reach the GPU or NVRTC.
export DL_REQUIRE_GPU=1

# Time limits (seconds): at most 3 x 60 + 150 for the test binaries,
# 75 + 90 per benchmark round, 120 per mnist_cnn run (last, so that a
# device call cut short still has the test results and the ratios). The
# f32 part of a healthy run on an H200 took about a minute (tests 15 s,
# each round 10 s); the bf16 benchmarks and the two mnist_cnn runs are new
# and unmeasured (estimated 1-3 minutes more).
status=0
ran=0
for t in "$dir"/dl_cuda_* "$dir"/dl_core_cuda_tests; do
    [[ -x "$t" ]] || continue
    name="$(basename "$t")"
    echo "== $name"
    filter=""
    limit=60
    [[ "$name" == dl_core_cuda_tests ]] && { filter="cuda::"; limit=150; }
    log=$(mktemp)
    if ! timeout "$limit" "$t" $filter --nocapture --test-threads=1 2>&1 | tee "$log"; then status=1; fi
    if grep -q "skipped:" "$log"; then
        echo "FAIL: CUDA tests skipped on this machine (see the reason above)"; status=1
    fi
    ran=$((ran + 1))
done
[[ $ran -gt 0 ]] || { echo "FAIL: no test binaries in $dir"; status=1; }

# GPU benchmarks: B1-gpu (MLP, batch 1024), B2-gpu (CNN, batch 256), B4-gpu
# (attention, batch 32) in f32, and B2/B4 in bf16 autocast; dl and PyTorch
# alternately for ROUNDS rounds (default 3), then the medians and the ratios
# dl/torch of the medians of steps_per_s, and dl's bf16/f32 ratios.
ROUNDS="${ROUNDS:-3}"
fields() { sed -n "s/^$1 $2 .*steps_per_s=\([0-9.]*\).*/\1/p" "$3"; }
median() { python3 -c 'import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f"{s.median(v):.2f}" if v else "")' "$@"; }
if [[ -x "$dir/gpu_bench" ]]; then
    echo "== benchmarks ($ROUNDS rounds, dl and PyTorch alternating)"
    dl_log=$(mktemp); torch_log=$(mktemp)
    torch_py="$dir/bench_torch_gpu.py"
    [[ -f "$torch_py" ]] || torch_py=bench/bench_torch_gpu.py
    have_torch=0
    python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null && [[ -f "$torch_py" ]] && have_torch=1
    [[ $have_torch == 1 ]] || echo "== PyTorch with CUDA not available here: no ratios"
    for r in $(seq 1 "$ROUNDS"); do
        echo "-- round $r"
        if ! timeout 75 "$dir/gpu_bench" all | tee -a "$dl_log"; then echo "FAIL: gpu_bench"; status=1; break; fi
        if [[ $have_torch == 1 ]]; then
            timeout 90 python3 -W ignore "$torch_py" | tee -a "$torch_log" || echo "warning: the PyTorch benchmark failed"
        fi
    done
    for b in B1-gpu B2-gpu B2-gpu-bf16 B4-gpu B4-gpu-bf16; do
        # shellcheck disable=SC2046
        ours=$(median $(fields "$b" dl "$dl_log")); theirs=$(median $(fields "$b" torch "$torch_log"))
        if [[ -n "$ours" && -n "$theirs" ]]; then
            echo "$b median steps_per_s dl=$ours torch=$theirs ratio=$(python3 -c "print(f'{$ours / $theirs:.3f}')")"
        elif [[ -n "$ours" ]]; then
            echo "$b median steps_per_s dl=$ours"
        fi
    done
    for b in B2-gpu B4-gpu; do
        # shellcheck disable=SC2046
        f32=$(median $(fields "$b" dl "$dl_log")); bf16=$(median $(fields "$b-bf16" dl "$dl_log"))
        if [[ -n "$f32" && -n "$bf16" ]]; then
            echo "$b dl bf16/f32 ratio=$(python3 -c "print(f'{$bf16 / $f32:.3f}')")"
        fi
    done
else
    echo "== benchmarks: no gpu_bench binary in $dir (scripts/gpu_check.sh bundle builds it)"
fi

# mnist_cnn on the GPU, 3 epochs in f32 and in bf16 autocast: the test
# accuracies (issue 20: within 0.2 points). The data: $DL_MNIST_DIR, else
# data/mnist of the directory the script was called from.
mnist="${DL_MNIST_DIR:-$caller/data/mnist}"
if [[ -x "$dir/mnist_cnn" && -d "$mnist" ]]; then
    for p in f32 bf16; do
        echo "== mnist_cnn --device cuda --precision $p"
        # In a scratch directory: the example writes checkpoints/ there.
        if ! (cd "$(mktemp -d)" && timeout 120 "$dir/mnist_cnn" --device cuda --precision "$p" \
            --data "$mnist" --epochs 3 --quiet 2>&1 | tail -n 4); then
            echo "FAIL: mnist_cnn ($p)"; status=1
        fi
    done
else
    echo "== mnist_cnn: no binary in $dir or no data at $mnist"
fi

exit $status
