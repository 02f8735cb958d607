#!/usr/bin/env bash
# fuzz.sh: runs every cargo-fuzz target (fuzz/fuzz_targets/*.rs, one per parser of user input)
# for a set time each, a few at once, and prints per target the runs, coverage and whether it
# crashed. A crash leaves its input in fuzz/artifacts/<target>/; turn each into a regular test.
#
# Usage: scripts/fuzz.sh [TARGET...]      (default: every target)
# Env (defaults): SECONDS_EACH=600 JOBS=2 (targets at once; the machine has 2 cores)
#                 SKIP_BUILD= (set: run the targets as last built)
#
# The targets are built once, then their binaries run directly: `cargo fuzz run` would rebuild
# monibox (about 10 minutes with the sanitizer) whenever its sources changed meanwhile.
#
# cargo-fuzz is installed from crates.io when missing. It needs a nightly compiler for
# -Zsanitizer; with only the stable toolchain this script sets RUSTC_BOOTSTRAP=1, which lets
# stable rustc take nightly flags (measured: stable 1.95 builds and runs every target so).
# Fuzzing is not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

SECONDS_EACH="${SECONDS_EACH:-600}"
JOBS="${JOBS:-2}"

log() { printf '>> %s\n' "$*" >&2; }

if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    FUZZ=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    FUZZ=(cargo fuzz)
fi

if (($#)); then
    TARGETS=("$@")
else
    mapfile -t TARGETS < <("${FUZZ[@]}" list)
fi
if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building the targets (${FUZZ[*]} build -O)"
    "${FUZZ[@]}" build -O
fi
BIN="target/$(rustc -vV | awk '/^host:/{print $2}')/release"

LOGS="$(mktemp -d -t fuzz.XXXXXX)"
trap 'rm -rf "$LOGS"' EXIT

run_one() {  # $1 target: fuzz for SECONDS_EACH, seeded from fuzz/seeds/<target>
    local target="$1" seeds=()
    mkdir -p "corpus/$target" "artifacts/$target"
    [[ -d "seeds/$target" ]] && seeds=("seeds/$target")
    "$BIN/$target" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" "corpus/$target" "${seeds[@]}" \
        >"$LOGS/$target.log" 2>&1
}

status=0
running=0
declare -A PIDS=()
for target in "${TARGETS[@]}"; do
    log "fuzzing $target for ${SECONDS_EACH}s"
    run_one "$target" &
    PIDS[$target]=$!
    running=$((running + 1))
    if ((running >= JOBS)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait || true

printf '\n%-15s %10s %8s %8s  %s\n' target runs cov corpus result
for target in "${TARGETS[@]}"; do
    out="$LOGS/$target.log"
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out" | grep -oE '[0-9]+$' || echo '?')
    cov=$(grep -oE 'cov: [0-9]+' "$out" | tail -n 1 | grep -oE '[0-9]+' || echo '?')
    corpus=$(find "corpus/$target" -type f | wc -l)
    cp "$out" "artifacts/$target/last-run.log"
    if grep -qE 'SUMMARY|panicked|deadly signal|ERROR: libFuzzer' "$out"; then
        result="CRASH: $(grep -oE 'artifacts/[^ ]+' "$out" | head -n 1)"
        status=1
    else
        result="0 crashes"
    fi
    printf '%-15s %10s %8s %8s  %s\n' "$target" "$runs" "$cov" "$corpus" "$result"
done
exit "$status"
