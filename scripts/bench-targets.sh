#!/usr/bin/env bash
# bench-targets.sh — the user's own targets on the local Engine and a real Prometheus (host
# builds), monibox's release binary:
#
#  1. Docker discovery latency, ROUNDS times (fast profile): a container labelled
#     prometheus.io/scrape=true started on a network of its own, until the daemon serves it on
#     /sd/docker and until Prometheus scrapes it (active, up); then stopped, until /sd/docker and
#     Prometheus's active targets no longer have it;
#  2. COUNT labelled containers at once: all discovered (/sd/docker and Prometheus), the time it
#     took, /sd/docker's latency (wrk, 1 connection, 5 s), and the daemon's CPU share and RSS
#     from /proc over IDLE seconds with the fast profile (scraped every 1 s) and, after
#     `monibox up` with the standard one, that (every 15 s);
#  3. the loopback relay: `monibox serve` on 127.0.0.1 added with `targets add`, its /metrics
#     fetched directly (127.0.0.1) and through the daemon's relay (the gateway address, as
#     Prometheus reaches it), wrk 1 connection 5 s each, interleaved A/B ROUNDS times: p50/p99.
#
# Only containers and the network this script creates are touched (label monibox-bench=<id>);
# the stack's discovery is narrowed to that label. Traffic stays on 127.0.0.0/8 and the
# project's own bridge.
#
# Usage: scripts/bench-targets.sh        Env: ROUNDS=5 COUNT=100 IDLE=20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
COUNT="${COUNT:-100}"
IDLE="${IDLE:-20}"
WORK="$(mktemp -d -t bench-targets.XXXXXX)"
PROJECT="bench-tgt-$$"
MARK="monibox-bench=$PROJECT"
NET="bench-targets-$$"
# shellcheck source=scripts/lib/stack-bench.sh
source scripts/lib/stack-bench.sh

SERVE_PID=""
cleanup() {
    [[ -n "$SERVE_PID" ]] && kill "$SERVE_PID" 2>/dev/null || true
    docker ps -aq --filter "label=$MARK" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network rm "$NET" >/dev/null 2>&1 || true
    "$BIN" down --volumes --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
build_bench_images
write_config "$WORK/fast.toml" fast
printf '\n[discovery]\ndocker = true\ndocker_labels = ["%s"]\n' "$MARK" >>"$WORK/fast.toml"
mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }

log "monibox up (fast profile)"
mb up >/dev/null
STATUS=$(mb status --json)
PROM=$(python3 -c 'import json,sys; print([c["url"] for c in json.load(sys.stdin)["components"] if c["name"]=="prometheus"][0])' <<<"$STATUS")
OPS=$(python3 -c 'import json,sys; print([c["url"] for c in json.load(sys.stdin)["components"] if c["name"]=="daemon"][0])' <<<"$STATUS")
DAEMON_PID=$(cat "$WORK/state/$PROJECT/daemon.pid")
GATEWAY=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([a.split(":")[0] for a in r["daemon"]["app_listen"] if not a.startswith("127.")][0])' "$WORK/state/$PROJECT/stack.json")
docker network create "$NET" >/dev/null

in_sd() { curl -s "$OPS/sd/docker" | grep -c "\"$1:" || true; }
# Conditions wait_until polls (each evaluated afresh every time).
sd_has() { [[ "$(in_sd "$1")" -ge 1 ]]; }
sd_lacks() { [[ "$(in_sd "$1")" -eq 0 ]]; }
prom_scrapes() { [[ "$(prom_up "$1")" -ge "${2:-1}" ]]; }
prom_lacks() { [[ "$(prom_has "$1")" -eq 0 ]]; }
sd_holds() { [[ "$(sd_count)" -ge "$1" ]]; }
sd_count() { curl -s "$OPS/sd/docker" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
prom_up() { # $1 instance substring; prints the number of active docker targets up that match
    curl -s "$PROM/api/v1/targets?state=active" | python3 -c '
import json, sys
print(sum(1 for t in json.load(sys.stdin)["data"]["activeTargets"]
          if t["labels"].get("job") == "docker" and sys.argv[1] in t["labels"].get("instance", "") and t["health"] == "up"))' "$1"
}
prom_has() {
    curl -s "$PROM/api/v1/targets?state=active" | python3 -c '
import json, sys
print(sum(1 for t in json.load(sys.stdin)["data"]["activeTargets"] if sys.argv[1] in t["labels"].get("instance", "")))' "$1"
}
wait_until() { # $1 deadline seconds, then a condition (function and arguments); prints seconds waited
    local limit=$1 t0 t; shift
    t0=$(now)
    until "$@"; do
        t=$(now)
        if awk -v a="$t0" -v b="$t" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            echo "timeout"; return 0
        fi
        sleep 0.02
    done
    elapsed "$t0" "$(now)"
}
run_labelled() { # $1 name; starts a labelled stand-in serving /metrics on 3000
    docker run -d -q --name "$1" --network "$NET" -l "$MARK" -l prometheus.io/scrape=true \
        -l prometheus.io/port=3000 "$STANDIN" >/dev/null
}

SD_UP=(); PROM_UP=(); SD_GONE=(); PROM_GONE=()
for round in $(seq "$ROUNDS"); do
    name="bench-$$-one-$round"
    log "discovery round $round/$ROUNDS"
    run_labelled "$name"
    t0=$(now)
    wait_until 30 sd_has "$name" >/dev/null
    SD_UP+=("$(elapsed "$t0" "$(now)")")
    wait_until 30 prom_scrapes "$name" >/dev/null
    PROM_UP+=("$(elapsed "$t0" "$(now)")")
    docker stop -t 1 "$name" >/dev/null
    t0=$(now)
    wait_until 30 sd_lacks "$name" >/dev/null
    SD_GONE+=("$(elapsed "$t0" "$(now)")")
    wait_until 30 prom_lacks "$name" >/dev/null
    PROM_GONE+=("$(elapsed "$t0" "$(now)")")
    docker rm -f "$name" >/dev/null
    sleep 1
done

log "starting $COUNT labelled containers"
t0=$(now)
for i in $(seq "$COUNT"); do run_labelled "bench-$$-many-$i"; done
started=$(elapsed "$t0" "$(now)")
all_sd=$(wait_until 60 sd_holds "$COUNT")
all_prom=$(wait_until 60 prom_scrapes "bench-$$-many-" "$COUNT")
SD_N=$(sd_count); PROM_N=$(prom_up "bench-$$-many-")
SD_LATENCY=$(wrk -t1 -c1 -d5s --latency "$OPS/sd/docker" | awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} END {print p50, p99}')
SD_BYTES=$(curl -s "$OPS/sd/docker" | wc -c)

idle() { # prints "rss_mb cpu_percent" of the daemon over IDLE seconds
    local c0 c1 t0 t1 hz rss
    hz=$(getconf CLK_TCK)
    c0=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"); t0=$(now)
    sleep "$IDLE"
    c1=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"); t1=$(now)
    rss=$(awk '/VmRSS/{printf "%.1f", $2 / 1024}' "/proc/$DAEMON_PID/status")
    awk -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v rss="$rss" \
        'BEGIN { printf "%s %.2f\n", rss, 100 * (c1 - c0) / hz / (t1 - t0) }'
}
log "daemon with $COUNT targets, fast profile, ${IDLE} s"
read -r FAST_RSS FAST_CPU < <(idle)
log "switching to the standard profile (monibox up recreates what the timing changes)"
sed -i 's/^timing = "fast"/timing = "standard"/' "$WORK/fast.toml"
mb up >/dev/null
DAEMON_PID=$(cat "$WORK/state/$PROJECT/daemon.pid")
sleep 5
log "daemon with $COUNT targets, standard profile, ${IDLE} s"
read -r STD_RSS STD_CPU < <(idle)
docker ps -q --filter "label=$MARK" | xargs -r docker rm -f >/dev/null
sed -i 's/^timing = "standard"/timing = "fast"/' "$WORK/fast.toml"
mb up >/dev/null
GATEWAY=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([a.split(":")[0] for a in r["daemon"]["app_listen"] if not a.startswith("127.")][0])' "$WORK/state/$PROJECT/stack.json")

log "loopback relay: monibox serve on 127.0.0.1, direct against relayed"
"$BIN" serve --listen 127.0.0.1:0 >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 50); do grep -q listening "$WORK/serve.log" && break; sleep 0.1; done
APP=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.log" | head -1)
APP_PORT=${APP##*:}
mb targets add benchapp "127.0.0.1:$APP_PORT" --no-wait >/dev/null
sleep 1
lat() { wrk -t1 -c1 -d5s --latency "$1" | awk '/^ +50%/{p50=$2} /^ +99%/{p99=$2} END {print p50, p99}'; }
DIRECT=(); RELAYED=()
for round in $(seq "$ROUNDS"); do
    DIRECT+=("$(lat "http://127.0.0.1:$APP_PORT/metrics")")
    RELAYED+=("$(lat "http://$GATEWAY:$APP_PORT/metrics")")
done

echo
echo "Docker discovery, fast profile, $ROUNDS rounds (seconds after docker run / docker stop returned)"
printf '  in /sd/docker after start     %s\n' "$(summary "${SD_UP[@]}")"
printf '  scraped (up) by Prometheus    %s\n' "$(summary "${PROM_UP[@]}")"
printf '  out of /sd/docker after stop  %s\n' "$(summary "${SD_GONE[@]}")"
printf '  gone from Prometheus          %s\n' "$(summary "${PROM_GONE[@]}")"
echo "$COUNT labelled containers (the last started ${started} s after the first; then)"
printf '  in /sd/docker %s of %s after %s s more; up in Prometheus %s of %s after %s s more\n' \
    "$SD_N" "$COUNT" "$all_sd" "$PROM_N" "$COUNT" "$all_prom"
printf '  /sd/docker (%s bytes) latency, wrk 1 connection 5 s: p50 %s  p99 %s\n' "$SD_BYTES" $SD_LATENCY
printf '  daemon, fast profile (100 scrapes/s through relays): RSS %s MB, CPU %s%% of a core\n' "$FAST_RSS" "$FAST_CPU"
printf '  daemon, standard profile (15 s scrapes):           RSS %s MB, CPU %s%% of a core\n' "$STD_RSS" "$STD_CPU"
echo "loopback relay, GET /metrics of monibox serve, wrk 1 connection 5 s, $ROUNDS interleaved rounds (p50 p99)"
for round in $(seq 0 $((ROUNDS - 1))); do
    printf '  round %d  direct %-18s relayed %s\n' $((round + 1)) "${DIRECT[$round]}" "${RELAYED[$round]}"
done
