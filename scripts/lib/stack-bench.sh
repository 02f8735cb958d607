# Shared by the stack benchmarks (bench-stack.sh, bench-faults.sh); sourced, not run. The caller
# runs from the repository root with `set -euo pipefail` and sets PROJECT (the bench project).
#
# Gives: BIN (the release binary, or the binary the environment's BIN names), log/now/elapsed/median/summary, build_bench_images (the host
# builds of Prometheus and Alertmanager and the Grafana stand-in — busybox httpd, not Grafana —
# sets PROM_IMAGE, AM_IMAGE, STANDIN) and write_config FILE TIMING (every port `auto`).

RELEASE_BIN="$PWD/target/release/monibox"
BIN="${BIN:-$RELEASE_BIN}"
STANDIN=monibox-test/grafana-standin:busybox

log() { printf '>> %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# "min X  median Y  max Z" of the arguments.
summary() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        printf "min %.2f  median %.2f  max %.2f", v[1], v[int((NR + 1) / 2)], v[NR] }'
}

build_bench_images() {
    if [[ "$BIN" == "$RELEASE_BIN" ]]; then
        log "building release"
        cargo build --release --locked -q
    fi
    log "building the host images and the Grafana stand-in (reused when unchanged)"
    "$BIN" images build --from-host >&2
    "$BIN" images build --from-host --component grafana-standin >&2
    local list
    list=$("$BIN" images list --json)
    PROM_IMAGE=$(python3 -c 'import json,sys; print([c["image"] for c in json.load(sys.stdin)["components"] if c["component"]=="prometheus"][0])' <<<"$list")
    AM_IMAGE=$(python3 -c 'import json,sys; print([c["image"] for c in json.load(sys.stdin)["components"] if c["component"]=="alertmanager"][0])' <<<"$list")
}

write_config() { # $1 file, $2 timing
    cat >"$1" <<CONFIG
project = "$PROJECT"
timing = "$2"
[ports]
app = "auto"
ops = "auto"
prometheus = "auto"
alertmanager = "auto"
grafana = "auto"
[images]
prometheus = "$PROM_IMAGE"
alertmanager = "$AM_IMAGE"
grafana = "$STANDIN"   # a stand-in (busybox httpd), not Grafana
CONFIG
}
