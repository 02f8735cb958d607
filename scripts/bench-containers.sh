#!/usr/bin/env bash
# bench-containers.sh — the daemon's container metrics (/metrics/containers) on the local
# Engine, monibox's release binary, a stack with only the daemon (every component off):
#
#  1. COUNT (30) busybox containers: the daemon's CPU share over WINDOW seconds while scraped
#     every 15 s as Prometheus would (its whole process: demo service, supervisor and the rest
#     idle), the CPU time one scrape costs (from BURST back-to-back scrapes) and what that is at
#     one scrape per 15 s, and the scrape latency p50/p99/max over the burst;
#  2. MANY (200) containers: errors, the scrape latency p50/p99/max over the burst, the
#     daemon's RSS.
#
# Only containers this script creates are touched (label io.monibox.project=<bench project>);
# traffic stays on 127.0.0.1. Targets: 30 containers ≤ 0.5 % of a core and p99 ≤ 100 ms;
# 200 containers: no error, ≤ 500 ms, RSS < 30 MB.
#
# Usage: scripts/bench-containers.sh        Env: COUNT=30 MANY=200 WINDOW=60 BURST=100
#        BIN=target/test-release/monibox (an already built binary; default: build the release one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT="${COUNT:-30}"
MANY="${MANY:-200}"
WINDOW="${WINDOW:-60}"
BURST="${BURST:-100}"
WORK="$(mktemp -d -t bench-containers.XXXXXX)"
PROJECT="bench-ctr-$$"
IMAGE=monibox-bench/busybox:local
BIN="${BIN:-}"

log() { printf '>> %s\n' "$*" >&2; }
mb() { "$BIN" "$@" --config "$WORK/monibox.toml" --state-dir "$WORK/state"; }

cleanup() {
    docker ps -aq --filter "label=io.monibox.project=$PROJECT" | xargs -r docker rm -f >/dev/null 2>&1 || true
    mb down --volumes >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "$BIN" ]]; then
    log "building release"
    cargo build --release --locked -q
    BIN="$PWD/target/release/monibox"
fi
log "building $IMAGE from the host's busybox"
mkdir -p "$WORK/image"
cp "$(command -v busybox)" "$WORK/image/busybox"
printf 'FROM scratch\nCOPY busybox /bin/busybox\nENTRYPOINT ["/bin/busybox"]\n' >"$WORK/image/Dockerfile"
docker build -q -t "$IMAGE" "$WORK/image" >/dev/null 2>&1

cat >"$WORK/monibox.toml" <<CONFIG
project = "$PROJECT"
[ports]
app = "auto"
ops = "auto"
[components]
prometheus = false
alertmanager = false
grafana = false
[discovery]
docker = false
[containers]
scope = "project"
CONFIG
log "monibox up (the daemon only)"
mb up >/dev/null
OPS=$(mb status --json | python3 -c 'import json,sys; print([c["url"] for c in json.load(sys.stdin)["components"] if c["name"]=="daemon"][0])')
DAEMON_PID=$(cat "$WORK/state/$PROJECT/daemon.pid")
URL="$OPS/metrics/containers"

start() { # $1 from, $2 to (exclusive)
    local i
    for ((i = $1; i < $2; i++)); do
        docker run -d -q --name "$PROJECT-$i" --label "io.monibox.project=$PROJECT" \
            "$IMAGE" sleep 3600 >/dev/null &
        (( (i - $1) % 10 == 9 )) && wait
    done
    wait
}
seen() { curl -s "$URL" | grep -c "^container_memory_usage_bytes{name=\"$PROJECT-" || true; }
wait_seen() { # $1 count
    local i
    for i in $(seq 600); do [[ "$(seen)" -ge "$1" ]] && return 0; sleep 0.1; done
    log "only $(seen) of $1 containers seen"; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }
HZ=$(getconf CLK_TCK)

burst() { # prints "errors p50_ms p99_ms max_ms cpu_ms_per_scrape"
    local c0 c1 errors=0 i
    : >"$WORK/times"
    c0=$(cpu_ticks)
    for ((i = 0; i < BURST; i++)); do
        curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$URL" >>"$WORK/times" || echo "000 0" >>"$WORK/times"
    done
    c1=$(cpu_ticks)
    errors=$(awk '$1 != 200' "$WORK/times" | wc -l)
    awk '{print $2 * 1000}' "$WORK/times" | sort -g | awk -v errors="$errors" -v n="$BURST" \
        -v cpu="$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { print (b - a) / hz * 1000 }')" '
        { v[NR] = $1 } END {
            p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
            printf "%d %.1f %.1f %.1f %.2f\n", errors, v[int((NR + 1) / 2)], v[p99], v[NR], cpu / n }'
}

log "starting $COUNT containers"
start 0 "$COUNT"
wait_seen "$COUNT"
log "$COUNT containers: scraping every 15 s for $WINDOW s"
c0=$(cpu_ticks); t0=$(date +%s.%N)
for ((s = 0; s < WINDOW; s += 15)); do
    curl -s -o /dev/null "$URL"
    sleep "$(( WINDOW - s < 15 ? WINDOW - s : 15 ))"
done
c1=$(cpu_ticks); t1=$(date +%s.%N)
WINDOW_CPU=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN { printf "%.3f", 100 * (b - a) / hz / (t1 - t0) }')
log "$COUNT containers: $BURST scrapes back to back"
read -r E30 P50_30 P99_30 MAX_30 CPU30 < <(burst)
SERIES_30=$(curl -s "$URL" | grep -vc '^#')
BYTES_30=$(curl -s "$URL" | wc -c)

log "starting $(( MANY - COUNT )) more containers"
start "$COUNT" "$MANY"
wait_seen "$MANY"
log "$MANY containers: $BURST scrapes back to back"
read -r E200 P50_200 P99_200 MAX_200 CPU200 < <(burst)
RSS=$(awk '/VmRSS/{printf "%.1f", $2 / 1024}' "/proc/$DAEMON_PID/status")
SERIES_200=$(curl -s "$URL" | grep -vc '^#')

echo
echo "container metrics ($(nproc) cores; $(docker info -f '{{.CgroupDriver}} cgroup v{{.CgroupVersion}}' 2>/dev/null))"
printf '  %3d containers: %d series, %d bytes a scrape\n' "$COUNT" "$SERIES_30" "$BYTES_30"
printf '    daemon CPU, scraped every 15 s over %d s:   %s %% of a core (whole process)\n' "$WINDOW" "$WINDOW_CPU"
printf '    CPU per scrape: %s ms  → at one scrape per 15 s: %s %% of a core\n' "$CPU30" \
    "$(awk -v c="$CPU30" 'BEGIN { printf "%.3f", c / 15000 * 100 }')"
printf '    scrape latency (%d back to back): p50 %s ms  p99 %s ms  max %s ms  errors %d\n' \
    "$BURST" "$P50_30" "$P99_30" "$MAX_30" "$E30"
printf '  %3d containers: %d series\n' "$MANY" "$SERIES_200"
printf '    CPU per scrape: %s ms  → at one scrape per 15 s: %s %% of a core\n' "$CPU200" \
    "$(awk -v c="$CPU200" 'BEGIN { printf "%.3f", c / 15000 * 100 }')"
printf '    scrape latency (%d back to back): p50 %s ms  p99 %s ms  max %s ms  errors %d\n' \
    "$BURST" "$P50_200" "$P99_200" "$MAX_200" "$E200"
printf '    daemon RSS: %s MB\n' "$RSS"
