#!/usr/bin/env bash
# bench-demo.sh — the demo service against the Flask + prometheus_client peer, on loopback.
#
#  1. throughput and latency: ../shared/reference/bench/peer-baseline.sh runs wrk against the
#     Flask peer (gunicorn), `monibox serve` and `monibox serve --uninstrumented`, interleaved;
#  2. server CPU time per request: utime+stime from /proc over each wrk run (every gunicorn
#     process summed), interleaved flask/monibox/bare rounds — steadier than req/s on shared cores;
#  3. idle RSS of `monibox serve`, and /metrics latency with one sequential client (no other load).
#
# When nginx is installed (Debian `nginx-core`), phase 2 also measures one nginx worker answering
# a fixed JSON body: an epoll server in C doing the same two system calls per request, i.e. what
# the kernel's loopback TCP path costs here, the floor for any server.
#
# Usage: scripts/bench-demo.sh        Env: DURATION=10s ROUNDS=3 CONNS=50 THREADS=2
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-50}"
THREADS="${THREADS:-2}"
PEER_DIR="$(cd ../shared/reference && pwd)"
BIN=target/release/monibox
WORK="$(mktemp -d -t bench-demo.XXXXXX)"
PIDS=()

cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '>> %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import flask, prometheus_client, gunicorn' 2>/dev/null \
    || python3 -m pip install -q -r "$PEER_DIR/flask-demo/requirements.txt"

log "building release"
cargo build --release --locked -q

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts `monibox serve` with extra flags; prints "pid url" (the caller records the pid: this
# runs in a subshell).
start_monibox() {
    local out="$WORK/serve-$RANDOM.out"
    "$BIN" serve --listen 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
    local pid=$!
    for _ in $(seq 50); do grep -q http:// "$out" 2>/dev/null && break; sleep 0.1; done
    echo "$pid $(grep -o 'http://[^ ]*' "$out" | head -1)"
}

read -r MB_PID MB_URL < <(start_monibox)
read -r BARE_PID BARE_URL < <(start_monibox --uninstrumented)
PIDS+=("$MB_PID" "$BARE_PID")
sleep 1
IDLE_RSS_KB=$(awk '/VmRSS/{print $2}' "/proc/$MB_PID/status")

# ---- 1. throughput: the shared peer script (it starts and stops its own gunicorn) -------------
PEER_PORT=$(free_port)
log "peer-baseline: flask vs monibox vs bare (uninstrumented), $ROUNDS rounds of $DURATION"
PORT="$PEER_PORT" ROUNDS="$ROUNDS" DURATION="$DURATION" CONNS="$CONNS" THREADS="$THREADS" \
    "$PEER_DIR/bench/peer-baseline.sh" monibox="$MB_URL" bare="$BARE_URL" | tee "$WORK/peer.txt"

# ---- 2. CPU time per request ------------------------------------------------------------------
FLASK_PORT=$(free_port)
python3 -m gunicorn --chdir "$PEER_DIR/flask-demo" -w "$(nproc)" -k gthread --threads 8 \
    -b "127.0.0.1:$FLASK_PORT" --log-level warning app:app >"$WORK/gunicorn.log" 2>&1 &
FLASK_PID=$!
PIDS+=("$FLASK_PID")
for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:$FLASK_PORT/" 2>/dev/null && break; sleep 0.1; done

TARGETS="flask monibox bare"
if command -v nginx >/dev/null; then
    NGINX_PORT=$(free_port)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { default_type application/json; return 200 '{"status":"healthy","version":"0.1.0","uptime_seconds":1.234}'; }
    }
}
NGINX
    nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/" 2>/dev/null && break; sleep 0.1; done
    TARGETS="$TARGETS nginx"
fi

TICK=$(getconf CLK_TCK)
# utime+stime in clock ticks of a process and all its children (gunicorn workers).
cpu_ticks() {
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

printf 'round\ttarget\treq_s\trequests\tcpu_s\tcpu_us_per_req\n' >"$WORK/cpu.tsv"
for round in $(seq "$ROUNDS"); do
    for target in $TARGETS; do
        case $target in
            flask) pid=$FLASK_PID url="http://127.0.0.1:$FLASK_PORT/" ;;
            monibox) pid=$MB_PID url="$MB_URL/" ;;
            bare) pid=$BARE_PID url="$BARE_URL/" ;;
            nginx) pid=$NGINX_PID url="http://127.0.0.1:$NGINX_PORT/" ;;
        esac
        log "cpu round $round: $target"
        before=$(cpu_ticks "$pid")
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "$url")
        after=$(cpu_ticks "$pid")
        requests=$(awk '/requests in/{print $1}' <<<"$out")
        rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
        awk -v r="$round" -v t="$target" -v rps="$rps" -v n="$requests" -v a="$before" -v b="$after" -v hz="$TICK" \
            'BEGIN{cpu=(b-a)/hz; printf "%s\t%s\t%.0f\t%d\t%.2f\t%.2f\n", r, t, rps, n, cpu, cpu*1e6/n}' >>"$WORK/cpu.tsv"
    done
done

# ---- 3. /metrics latency with a single sequential scraper ---------------------------------------
METRICS_OUT=$(wrk -t1 -c1 -d5s --latency "$MB_URL/metrics")
SCRAPE_P50=$(awk '$1=="50%"{print $2}' <<<"$METRICS_OUT")
SCRAPE_P99=$(awk '$1=="99%"{print $2}' <<<"$METRICS_OUT")
LOADED_RSS_KB=$(awk '/VmRSS/{print $2}' "/proc/$MB_PID/status")

echo
echo "== server CPU time per request (GET /, wrk -t$THREADS -c$CONNS -d$DURATION, $ROUNDS interleaved rounds)"
column -t -s $'\t' "$WORK/cpu.tsv"
echo
awk -F'\t' 'NR > 1 { n[$2]++; us[$2] += $6; rps[$2] += $3 }
END {
    f = us["flask"] / n["flask"]; m = us["monibox"] / n["monibox"]; b = us["bare"] / n["bare"]
    printf "mean cpu us/request: flask %.1f  monibox %.2f  bare %.2f\n", f, m, b
    printf "flask / monibox cpu per request: %.1fx   (target >= 40x)\n", f / m
    printf "monibox / flask req/s (cpu phase): %.1fx (target >= 25x)\n", (rps["monibox"] / n["monibox"]) / (rps["flask"] / n["flask"])
    printf "instrumented / uninstrumented req/s: %.3f (target >= 0.95)\n", (rps["monibox"] / n["monibox"]) / (rps["bare"] / n["bare"])
    if (n["nginx"] > 0) {
        g = us["nginx"] / n["nginx"]
        printf "nginx (kernel floor) cpu us/request: %.2f; flask / nginx: %.1fx; monibox / nginx: %.2f\n", g, f / g, m / g
    }
}' "$WORK/cpu.tsv"
echo
echo "== monibox serve memory: idle RSS ${IDLE_RSS_KB} KiB (target < 8192), after the runs ${LOADED_RSS_KB} KiB"
echo "== /metrics with one sequential client (wrk -t1 -c1 -d5s): p50 ${SCRAPE_P50}, p99 ${SCRAPE_P99} (target p99 < 2ms)"
