#!/usr/bin/env bash
# Training speed of a user's crate (bench/downstream: its own workspace, `dl`
# by path, the profile lines docs/using-dl.md recommends) built in the dev
# profile against the same crate built in release. Prints steps per second
# of the digits MLP (`fit`, batch 32) and of a LeNet-style MNIST CNN (`fit`,
# batch 64) for both builds, and the ratios dev / release (the target is at
# least 0.5).
#
#   bench/downstream.sh              # RAYON_NUM_THREADS=1 unless set
#   MIN_SECONDS=5 bench/downstream.sh
#
# Steps per second are counted against the process's CPU time, which a
# loaded machine disturbs less than wall time (also printed); with one
# thread the two agree on an idle machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/downstream}"
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-1}"
cd "$root/bench/downstream"
cargo build -q
cargo build -q --release
dev=$("$CARGO_TARGET_DIR/debug/dl-downstream-bench")
rel=$("$CARGO_TARGET_DIR/release/dl-downstream-bench")
echo "dev:     ${dev//$'\n'/$'\n'         }"
echo "release: ${rel//$'\n'/$'\n'         }"
for net in mlp cnn; do
    d=$(sed -nE "s/^${net}_steps_per_s=([0-9.]+).*/\1/p" <<<"$dev")
    r=$(sed -nE "s/^${net}_steps_per_s=([0-9.]+).*/\1/p" <<<"$rel")
    awk -v n="$net" -v d="$d" -v r="$r" 'BEGIN { printf "%s: dev %.2f steps/s, release %.2f steps/s, dev/release %.2f\n", n, d, r, d / r }'
done
