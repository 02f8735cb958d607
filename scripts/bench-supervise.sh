#!/usr/bin/env bash
# bench-supervise.sh — the supervisor against faults injected behind monibox's back, on the local
# Docker Engine with local images only (fast timing profile):
#
#  1. `docker kill` of Prometheus, ROUNDS times (each after the component was up for the stable
#     period, so every restart is a first one): seconds until `monibox status --json` says
#     Prometheus is healthy again with one more supervisor restart;
#  2. `docker rm -f` of Alertmanager, ROUNDS times: the same for Alertmanager;
#  3. the idle daemon with the supervisor running: RSS and CPU share from /proc over IDLE seconds.
#
# `status` is polled every 50 ms, and each poll is a process that probes everything (about
# 0.1 s), so the times include up to that much polling latency.
#
# Images: the host builds of Prometheus and Alertmanager (`monibox images build --from-host`)
# and the Grafana stand-in (busybox httpd answering /api/health; not Grafana).
#
# Usage: scripts/bench-supervise.sh     Env: ROUNDS=5 IDLE=60 BIN=target/release/monibox
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
IDLE="${IDLE:-60}"
BIN="${BIN:-$PWD/target/release/monibox}"
WORK="$(mktemp -d -t bench-supervise.XXXXXX)"
PROJECT="bench-sup-$$"

log() { printf '>> %s\n' "$*" >&2; }

mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }
cleanup() {
    mb down --volumes >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ "$BIN" == "$PWD/target/release/monibox" ]]; then
    log "building release"
    cargo build --release --locked -q
fi
log "building the host images and the Grafana stand-in (reused when unchanged)"
"$BIN" images build --from-host >&2
"$BIN" images build --from-host --component grafana-standin >&2
image_of() {
    "$BIN" images list --json | python3 -c "import json,sys; print([c['image'] for c in json.load(sys.stdin)['components'] if c['component']=='$1'][0])"
}
cat >"$WORK/fast.toml" <<EOF
project = "$PROJECT"
timing = "fast"
[ports]
app = "auto"
ops = "auto"
prometheus = "auto"
alertmanager = "auto"
grafana = "auto"
[images]
prometheus = "$(image_of prometheus)"
alertmanager = "$(image_of alertmanager)"
grafana = "monibox-test/grafana-standin:busybox"   # a stand-in (busybox httpd), not Grafana
EOF

log "monibox up (fast timing)"
mb up >/dev/null

# Prints the seconds from now until COMPONENT is healthy with RESTARTS supervisor restarts.
wait_healed() { # $1 component, $2 restarts, $3 start time (epoch seconds, float)
    python3 - "$1" "$2" "$3" "$BIN" "$WORK" <<'PY'
import json, subprocess, sys, time
component, restarts, started, binary, work = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
deadline = started + 60
while time.time() < deadline:
    out = subprocess.run([binary, "status", "--json", "--config", f"{work}/fast.toml", "--state-dir", f"{work}/state"],
                         capture_output=True, text=True).stdout
    try:
        report = json.loads(out)
        c = next(c for c in report["components"] if c["name"] == component)
        if c["health"] == "healthy" and c["supervisor_restarts"] == restarts:
            print(f"{time.time() - started:.2f}")
            sys.exit(0)
    except (ValueError, StopIteration, KeyError):
        pass
    time.sleep(0.05)
print("timeout")
sys.exit(1)
PY
}

fault_rounds() { # $1 component, $2 docker command (kill | rm -f)
    local name="monibox-$PROJECT-$1" times=()
    for round in $(seq 1 "$ROUNDS"); do
        sleep 11 # the fast profile's stable period, so each restart is immediate
        local started
        started=$(date +%s.%N)
        docker $2 "$name" >/dev/null
        times+=("$(wait_healed "$1" "$round" "$started")")
    done
    printf '%s\n' "${times[@]}"
}

log "docker kill prometheus, $ROUNDS rounds"
mapfile -t kills < <(fault_rounds prometheus kill)
log "docker rm -f alertmanager, $ROUNDS rounds"
mapfile -t removals < <(fault_rounds alertmanager "rm -f")

log "idle daemon for $IDLE s"
pid=$(cat "$WORK/state/$PROJECT/daemon.pid")
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
max_rss=0
for _ in $(seq 1 "$IDLE"); do
    sleep 1
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
    (( rss > max_rss )) && max_rss=$rss
done
c1=$(cpu); t1=$(date +%s.%N)

echo
echo "supervisor benchmark (fast timing, $(nproc) CPUs, binary $BIN)"
echo "  docker kill prometheus → healthy again (s):   ${kills[*]}"
echo "  docker rm -f alertmanager → healthy again (s): ${removals[*]}"
awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v rss="$max_rss" 'BEGIN {
    printf "  idle daemon over %.0f s: CPU %.2f%% of one core, max RSS %.1f MB\n", t1 - t0, 100 * (c1 - c0) / hz / (t1 - t0), rss / 1024 }'
