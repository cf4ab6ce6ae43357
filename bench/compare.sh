#!/usr/bin/env bash
# Runs dl's benchmarks and PyTorch's (and numpy's GEMM) alternately, several
# rounds, and prints per-benchmark medians and the ratio dl / reference.
#
#   bench/compare.sh [ROUNDS] [NAMES]     (defaults: 3 rounds, B1,B2,B3,B4,gemm)
#
# Needs: cargo; optional python3 with torch (B1-B4) and numpy+threadpoolctl
# (GEMM). A missing reference is reported and skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
NAMES="${2:-B1,B2,B3,B4,gemm}"
THREADS="${THREADS:-2}"
export RAYON_NUM_THREADS="$THREADS"
OUT="$(mktemp)"
cargo build --release --example bench -q || exit 1
have_torch=0; python3 -c "import torch" 2>/dev/null && have_torch=1
have_numpy=0; python3 -c "import numpy, threadpoolctl" 2>/dev/null && have_numpy=1
[ "$have_torch" = 1 ] || echo "note: PyTorch not installed (pip install torch): B1-B4 reference skipped"
[ "$have_numpy" = 1 ] || echo "note: numpy/threadpoolctl not installed: GEMM reference skipped"
TORCH_ONLY="$(echo "$NAMES" | tr ',' '\n' | grep -E '^B[1-4]$' | paste -sd, -)"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  for n in $(echo "$NAMES" | tr ',' ' '); do
    ./target/release/examples/bench "$n" | tee -a "$OUT"
  done
  if [ "$have_torch" = 1 ] && [ -n "$TORCH_ONLY" ]; then
    python3 bench/bench_torch.py --threads "$THREADS" --only "$TORCH_ONLY" | tee -a "$OUT"
  fi
  if [ "$have_numpy" = 1 ] && echo "$NAMES" | grep -q gemm; then
    # OPENBLAS_* are set on some machines for old OpenBLAS builds; they slow a current one.
    (cd bench && env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench_gemm.py --lib numpy --threads "$THREADS") | tee -a "$OUT"
  fi
done
python3 bench/summarize.py "$OUT"
