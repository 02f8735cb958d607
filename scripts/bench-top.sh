#!/usr/bin/env bash
# bench-top.sh — what `monibox top` costs, with a stack up (fast timing: 1 s scrapes; the host
# builds of Prometheus and Alertmanager, the Grafana stand-in — busybox httpd, not Grafana) and a
# light `monibox load` running, so every panel has figures:
#
#  1. first frame: the wall time of `monibox top --once` from exec to its frame on stdout, RUNS
#     times (the full-screen view gathers the same snapshot before its first draw);
#  2. the full-screen view at --interval 1s in a tmux pane of 80×24 for MINUTES: its CPU share
#     (utime+stime from /proc/PID/stat over the wall time, in % of one core) and its RSS at the
#     start and at the end.
#
# Targets (issue 15): first frame ≤ 300 ms, ≤ 3% of a core, no RSS growth over 10 minutes.
#
# Usage: scripts/bench-top.sh        Env: MINUTES=10 RUNS=10
#        BIN=target/test-release/monibox to measure an existing build instead of building release
#        CAPTURE=FILE writes the last screen (tmux capture-pane, plain text) to FILE
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MINUTES="${MINUTES:-10}"
RUNS="${RUNS:-10}"
WORK="$(mktemp -d -t bench-top.XXXXXX)"
PROJECT="bench-top-$$"
SOCKET="bench-top-$$"
# shellcheck source=scripts/lib/stack-bench.sh
source scripts/lib/stack-bench.sh
LOAD_PID=""

cleanup() {
    tmux -L "$SOCKET" kill-server 2>/dev/null || true
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCKET"
    if [[ -n "$LOAD_PID" ]]; then
        kill -TERM "$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
    fi
    "$BIN" down --volumes --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v tmux >/dev/null || { log "installing tmux"; apt-get install -y -qq tmux >/dev/null; }
build_bench_images
write_config "$WORK/fast.toml" fast
mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }

log "monibox up --timing fast"
mb up >/dev/null
# Not through mb: $! must be monibox itself, not a subshell, for the cleanup's SIGTERM.
"$BIN" load --users 2 --think-time 200ms..1s --duration "$((MINUTES * 60 + 60))s" \
    --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 &
LOAD_PID=$!
log "waiting for the first endpoint figures"
for _ in $(seq 60); do
    mb top --json | grep -q '"requests_per_second": [0-9]' && break
    sleep 1
done

log "first frame: $RUNS runs of top --once"
times=()
for _ in $(seq "$RUNS"); do
    start=$(now)
    mb top --once >/dev/null
    times+=("$(awk -v s="$(elapsed "$start" "$(now)")" 'BEGIN { printf "%.0f", s * 1000 }')")
done

log "the full-screen view, --interval 1s, 80x24, for $MINUTES min"
tmux -L "$SOCKET" new-session -d -x 80 -y 24 -s top \
    "$BIN top --interval 1s --config $WORK/fast.toml --state-dir $WORK/state"
sleep 2
# The pane runs top itself, no shell.
TOP_PID=$(tmux -L "$SOCKET" display-message -p -t top '#{pane_pid}')
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$TOP_PID/stat"; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$TOP_PID/status"; }
rss_start=$(rss); cpu_start=$(cpu); wall_start=$(now)
rss_by_minute=()
for _ in $(seq "$MINUTES"); do
    sleep 60
    rss_by_minute+=("$(rss)")
done
rss_end=$(rss); cpu_end=$(cpu); wall_end=$(now)
share=$(awk -v c="$((cpu_end - cpu_start))" -v t="$ticks" -v w="$(elapsed "$wall_start" "$wall_end")" \
    'BEGIN { printf "%.2f", c / t / w * 100 }')
screen_lines=$(tmux -L "$SOCKET" capture-pane -p -t top | grep -c .)
if [[ -n "${CAPTURE:-}" ]]; then
    tmux -L "$SOCKET" capture-pane -p -t top >"$CAPTURE"
fi

echo "monibox top, stack up (fast timing) under monibox load --users 2"
echo "first frame (top --once, ms):  $(summary "${times[@]}")"
echo "full screen at --interval 1s:  ${share}% of a core over ${MINUTES} min (${screen_lines}/24 lines drawn)"
echo "RSS:                           ${rss_start} kB at the start, ${rss_end} kB after ${MINUTES} min"
echo "RSS each minute (kB):          ${rss_by_minute[*]}"
