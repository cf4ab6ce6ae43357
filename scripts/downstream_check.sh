#!/usr/bin/env bash
# Builds tests/downstream, the first program of docs/using-dl.md as written,
# the way a user's crate builds it: its own workspace, `dl` by path, the dev
# profile with the profile lines the guide recommends. Then runs it and
# checks what it prints: the summary, one line per epoch, a test accuracy of
# at least 92%, the same accuracy after saving and reloading. Also checks
# that `?` out of `main` prints the error's message, for `-> dl::Result<()>`
# and for `-> Result<(), Box<dyn Error>>`.
#
#   scripts/downstream_check.sh        # from anywhere; CARGO_TARGET_DIR is
#                                      # target/downstream unless set
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target/downstream}"
crate="$root/tests/downstream"
fail() { echo "downstream_check: FAIL: $*" >&2; exit 1; }

# The program is the guide's, as written: its only `rust` block.
awk '/^```rust$/ { on = 1; next } /^```$/ { on = 0 } on' "$root/docs/using-dl.md" |
    diff - "$crate/src/main.rs" || fail "docs/using-dl.md and tests/downstream/src/main.rs differ"
# ... and so are its profile lines.
for line in '[profile.dev.package."*"]' 'opt-level = 3' 'debug-assertions = false' 'overflow-checks = false'; do
    grep -qxF "$line" "$root/docs/using-dl.md" && grep -qxF "$line" "$crate/Cargo.toml" ||
        fail "profile line '$line' not in both docs/using-dl.md and tests/downstream/Cargo.toml"
done

# The README's section, once it has one, shows the same lines.
if grep -q "^## Use dl in your own crate" "$root/README.md"; then
    for line in '[profile.dev.package."*"]' 'opt-level = 3' 'debug-assertions = false' 'overflow-checks = false'; do
        grep -qxF "$line" "$root/README.md" || fail "profile line '$line' not in the README's section"
    done
fi

(cd "$crate" && cargo build --bins)
bin="$CARGO_TARGET_DIR/debug"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
work=$(cd "$work" && pwd -P)
# Where the guide tells the user to put the data: data/ next to Cargo.toml.
mkdir -p "$work/run/data/digits" "$work/empty"
cp "$root/data/digits/digits.csv.gz" "$work/run/data/digits/"

start=$(date +%s%N)
out=$(cd "$work/run" && "$bin/my-digits" 2>"$work/stderr") || { cat "$work/stderr"; fail "my-digits exited with an error"; }
echo "$out"
cat "$work/stderr"
echo "downstream_check: the program ran in $(( ($(date +%s%N) - start) / 1000000 )) ms (dev profile)"

grep -q "^Network: DigitsMlp (input \[64\])" <<<"$out" || fail "no summary table"
# `fit` prints one line per epoch (on stderr when it is not a terminal) ...
epochs=$(grep -cE "^epoch [0-9]+/20 - loss" "$work/stderr" || true)
[ "$epochs" -eq 20 ] || fail "expected 20 epoch lines on stderr, got $epochs"
# ... and `println!("{history}")` a one-line summary, not those lines again.
grep -q "^20 epochs, last: " <<<"$out" || fail "no one-line history summary"
if grep -qE "^ *epoch +loss" <<<"$out"; then fail "the history table was printed again"; fi
test_line=$(grep "^test: " <<<"$out") || fail "no test line"
acc=$(sed -E 's/.*accuracy ([0-9.]+)%.*/\1/' <<<"$test_line")
awk -v a="$acc" 'BEGIN { exit !(a >= 92) }' || fail "test accuracy $acc% below 92%"
[ "$(sed 's/^test: //' <<<"$test_line")" = "$(grep "^reloaded: " <<<"$out" | sed 's/^reloaded: //')" ] ||
    fail "the reloaded network evaluates differently"
[ -s "$work/run/digits_mlp.safetensors" ] || fail "no checkpoint written"

# `?` from main: "Error: " and the message (naming the missing directory and
# the current one), not the Debug dump of the error struct.
for prog in my-digits boxed_error; do
    if err=$(cd "$work/empty" && "$bin/$prog" 2>&1); then fail "$prog succeeded without data"; fi
    echo "$prog without data: $err"
    grep -q "^Error: data/.*: no such directory (the current directory is $work/empty)" <<<"$err" ||
        fail "$prog: unexpected error output"
    if grep -q "MissingDir\|{ dir" <<<"$err"; then fail "$prog printed the Debug form"; fi
done
echo "downstream_check: OK (test accuracy $acc%)"
