#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ on stable Rust, seeds their corpora
# from the repository's data and runs each one; see fuzz/README.md.
#
#   fuzz/run.sh [-t SECONDS | -r RUNS] [TARGET...] [-- LIBFUZZER_ARGS...]
#
#   -t SECONDS  fuzzing time per target (default 60, or $FUZZ_SECS)
#   -r RUNS     a number of inputs per target instead of a time ($FUZZ_RUNS)
#   TARGET      idx, checkpoint, digits_csv (default: all three)
#
# Environment: FUZZ_RSS_MB (memory limit per target, default 2048),
# FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_NO_BUILD=1
# (run the binaries already built), RUSTFLAGS (added to the flags below).
# Corpora: fuzz/corpus/TARGET; crashing inputs: fuzz/artifacts/TARGET;
# libFuzzer's output: fuzz/target/logs/TARGET.log. Exits 1 if a target
# crashed (panic, abort, out of memory, timeout).
set -euo pipefail

cd "$(dirname "$0")"
fuzz_dir=$PWD
root=$(cd .. && pwd)
all_targets=(idx checkpoint digits_csv)

secs=${FUZZ_SECS:-60}
runs=${FUZZ_RUNS:-}
rss=${FUZZ_RSS_MB:-2048}
timeout=${FUZZ_TIMEOUT:-10}
targets=()
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        -t) secs=$2; runs=; shift 2 ;;
        -r) runs=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

triple=$(rustc -vV | sed -n 's/^host: //p')
bin_dir=$fuzz_dir/target/$triple/release

# --- build: exactly what `cargo fuzz build --sanitizer none` (cargo-fuzz
# 0.13, debug assertions on) runs, so both share fuzz/target without
# rebuilding. All of it is stable (no -Z flag; only the sanitizers need
# nightly). --target keeps the flags away from build scripts and proc
# macros. No
# -Clink-dead-code (`--strip-dead-code=false`): with it, pulp (under gemm)
# fails to compile (E0080 in code that is never called).
if [ "${FUZZ_NO_BUILD:-}" != 1 ]; then
    flags="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions \
-Ccodegen-units=1"
    RUSTFLAGS="$flags${RUSTFLAGS:+ $RUSTFLAGS}" cargo build --release \
        --config 'profile.release.debug="line-tables-only"' \
        --manifest-path "$fuzz_dir/Cargo.toml" --target-dir "$fuzz_dir/target" \
        --target "$triple" --bins
fi

# --- seeds, from data/ and fuzz/seeds/ (rewritten each run, same names)
be32() { # a big-endian u32 as raw bytes
    printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))"
    printf "\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"
}
gz() { gzip -9 -n -c "$1" > "$1.gz"; }

seed_idx() {
    local d=$1 mnist=$root/data/mnist
    { be32 $((0x803)); be32 4; be32 3; be32 5; head -c 60 /dev/zero | tr '\0' '\7'; } > "$d/seed-images-4x3x5"
    { be32 $((0x801)); be32 6; printf '\x01\x02\x03\x04\x09\x00'; } > "$d/seed-labels-6"
    if [ -f "$mnist/t10k-images-idx3-ubyte.gz" ]; then
        # the first 2 test images and 20 labels, with the counts set to match
        { be32 $((0x803)); be32 2; be32 28; be32 28
          gzip -dc "$mnist/t10k-images-idx3-ubyte.gz" | tail -c +17 | head -c $((2 * 784)) || true
        } > "$d/seed-t10k-images-2"
        { be32 $((0x801)); be32 20
          gzip -dc "$mnist/t10k-labels-idx1-ubyte.gz" | tail -c +9 | head -c 20 || true
        } > "$d/seed-t10k-labels-20"
        cp "$mnist/t10k-labels-idx1-ubyte.gz" "$d/seed-t10k-labels-all.gz"
    fi
    for f in "$d"/seed-images-4x3x5 "$d"/seed-labels-6 "$d"/seed-t10k-images-2 "$d"/seed-t10k-labels-20; do
        if [ -f "$f" ]; then gz "$f"; fi
    done
}

seed_digits_csv() {
    local d=$1 csv=$root/data/digits/digits.csv.gz
    if [ -f "$csv" ]; then
        { gzip -dc "$csv" | head -n 3 || true; } > "$d/seed-digits-3"
        { gzip -dc "$csv" | head -n 2 || true; } | sed 's/$/\r/' > "$d/seed-digits-2-crlf"
    else
        printf '%s\n' "$(printf '0,%.0s' $(seq 64))3" > "$d/seed-digits-3"
    fi
    gz "$d/seed-digits-3"
}

seed_checkpoint() {
    cp "$fuzz_dir"/seeds/checkpoint/*.safetensors "$1/"
}

# --- run
mkdir -p "$fuzz_dir/target/logs"
summary=()
crashed=0
for t in "${targets[@]}"; do
    bin=$bin_dir/$t
    [ -x "$bin" ] || { echo "run.sh: no fuzz target $bin (build failed, or no such target)" >&2; exit 2; }
    corpus=$fuzz_dir/corpus/$t
    artifacts=$fuzz_dir/artifacts/$t
    log=$fuzz_dir/target/logs/$t.log
    mkdir -p "$corpus" "$artifacts"
    "seed_$t" "$corpus"
    limit=(-max_total_time="$secs")
    [ -n "$runs" ] && limit=(-runs="$runs")
    echo "== $t: ${limit[*]}, log $log"
    start=$(date +%s)
    rc=0
    "$bin" "$corpus" -artifact_prefix="$artifacts/" -rss_limit_mb="$rss" -timeout="$timeout" \
        -print_final_stats=1 "${limit[@]}" ${extra[@]+"${extra[@]}"} > "$log" 2>&1 || rc=$?
    wall=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+' || true)
    if [ "$rc" = 0 ]; then
        status="no crash"
    else
        crashed=1
        status="CRASH (exit $rc): $(grep -oE 'Test unit written to .*' "$log" | tail -n 1 | sed 's/Test unit written to //')"
        grep -E '^==[0-9]+== ERROR|panicked at' "$log" | head -n 3 || true
    fi
    summary+=("$(printf '%-11s %12s %7ss  %-9s  %s' "$t" "${execs:-?}" "$wall" "${cov:-}" "$status")")
done

echo
echo "target        executions     wall  coverage   result"
printf '%s\n' "${summary[@]}"
exit $crashed
