#!/usr/bin/env bash
# B1-ddp (BENCHMARKS.md): dl data parallel on MPI against PyTorch DDP (gloo),
# alternately, several rounds; prints every line and the medians.
#
#   bench/ddp_compare.sh [ROUNDS]        (default 3)
#   PYTHON=/path/to/python bench/ddp_compare.sh
#
# Each round runs, in this order:
#   dl  2 ranks x 1 thread   (mpirun -np 2, RAYON_NUM_THREADS=1)
#   dl  1 rank  x 2 threads  (mpirun -np 1, RAYON_NUM_THREADS=2)
#   dl  1 rank  x 1 thread   (the scaling baseline)
#   dl  2 ranks x 1 thread, --no-sync (no reduction: the bound this machine
#       puts on the scaling efficiency)
#   dl  2 ranks x 1 thread, --weak (batch 128 per rank: weak scaling)
#   torch DDP gloo, 2 processes x 1 thread (bench/bench_torch_wave2.py)
# Needs MPI (scripts/install-mpi.sh) and, for the reference, torch.
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
PY="${PYTHON:-python3}"
OUT="$(mktemp)"
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -x RAYON_NUM_THREADS)
cargo build --release --features mpi --example bench_ddp -q || exit 1
BIN=target/release/examples/bench_ddp
have_torch=0; "$PY" -c "import torch" 2>/dev/null && have_torch=1
[ "$have_torch" = 1 ] || echo "note: PyTorch not installed (pip install torch): the DDP reference is skipped"
for r in $(seq 1 "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  RAYON_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 "$BIN" | tee -a "$OUT"
  # OpenMPI binds each rank to one core by default (np <= 2): the one-rank,
  # two-thread run must not be bound, or its second thread shares a core.
  RAYON_NUM_THREADS=2 "${MPIRUN[@]}" --bind-to none -np 1 "$BIN" | tee -a "$OUT"
  RAYON_NUM_THREADS=1 "${MPIRUN[@]}" -np 1 "$BIN" | tee -a "$OUT"
  RAYON_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 "$BIN" --no-sync | tee -a "$OUT"
  RAYON_NUM_THREADS=1 "${MPIRUN[@]}" -np 2 "$BIN" --weak | tee -a "$OUT"
  if [ "$have_torch" = 1 ]; then
    "$PY" bench/bench_torch_wave2.py --only B1-ddp --ranks 2 | tee -a "$OUT"
  fi
done
"$PY" - "$OUT" <<'PYEOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("B1-ddp"):
        continue
    kv = dict(re.findall(r"(\w+)=([\w.]+)", line))
    key = (line.split()[0], line.split()[1], kv.get("ranks"), kv.get("threads_per_rank"))
    rows.setdefault(key, []).append(kv)
med = {}
for key, runs in sorted(rows.items()):
    sps = statistics.median(float(r["steps_per_s"]) for r in runs)
    med[key] = sps
    extra = ""
    if "allreduce_share" in runs[0]:
        extra = " allreduce_share=%.3f sync_share=%.3f" % (
            statistics.median(float(r["allreduce_share"]) for r in runs),
            statistics.median(float(r["sync_share"]) for r in runs))
    print("median %s %s ranks=%s threads_per_rank=%s steps_per_s=%.2f runs=%d%s" % (key + (sps, len(runs), extra)))
get = lambda name, who, ranks, threads: med.get((name, who, ranks, threads))
d21, d12, d11 = get("B1-ddp", "dl", "2", "1"), get("B1-ddp", "dl", "1", "2"), get("B1-ddp", "dl", "1", "1")
free, weak = get("B1-ddp-nosync", "dl", "2", "1"), get("B1-ddp-weak", "dl", "2", "1")
t21 = get("B1-ddp", "torch", "2", "1")
if d21 and d11:
    print("scaling efficiency, same global batch (dl 2x1 steps/s / dl 1x1 steps/s / 2): %.1f%%" % (100 * d21 / d11 / 2))
if free and d11:
    print("  bound with no reduction at all (2x1 --no-sync / 1x1 / 2): %.1f%%" % (100 * free / d11 / 2))
if weak and d11:
    print("weak scaling efficiency, batch 128 per rank (dl 2x1 --weak / dl 1x1): %.1f%%" % (100 * weak / d11))
if d21 and d12:
    print("dl 2 ranks x 1 thread / dl 1 rank x 2 threads: %.2fx" % (d21 / d12))
if d21 and t21:
    print("dl 2x1 / torch DDP gloo 2x1: %.2fx" % (d21 / t21))
PYEOF
