#!/usr/bin/env bash
# bench-stack.sh — `monibox up`/`down` against docker-compose (v1) running the same three
# containers, on the local Docker Engine with local images only.
#
#  1. interleaved rounds of: `monibox up --timing fast` until it returns (it returns when every
#     component answers), `monibox down`, then `docker-compose up -d` of Prometheus,
#     Alertmanager and the Grafana stand-in (1 s health checks) polled until the same three
#     endpoints answer (/-/ready, /-/ready, /api/health; every 25 ms, as monibox probes), and
#     `docker-compose down`; wall times and the ratios;
#  2. the idle daemon (supervisor included): RSS and CPU share from /proc over IDLE seconds, with the fast profile
#     (Prometheus scrapes the daemon twice a second) and the standard one (every 15 s).
#
# Images: the host builds of Prometheus and Alertmanager (`monibox images build --from-host`)
# and the Grafana stand-in (busybox httpd answering /api/health; not Grafana).
#
# Usage: scripts/bench-stack.sh        Env: ROUNDS=3 IDLE=30
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-3}"
IDLE="${IDLE:-30}"
WORK="$(mktemp -d -t bench-stack.XXXXXX)"
PROJECT="bench-$$"
COMPOSE_PROJECT="monibox-bench-compose-$$"
# shellcheck source=scripts/lib/stack-bench.sh
source scripts/lib/stack-bench.sh

cleanup() {
    "$BIN" down --volumes --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 || true
    if [[ -f "$WORK/compose/docker-compose.yml" ]]; then
        docker-compose -p "$COMPOSE_PROJECT" -f "$WORK/compose/docker-compose.yml" down -v >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v docker-compose >/dev/null || { log "installing docker-compose"; apt-get install -y -qq docker-compose >/dev/null; }

build_bench_images

write_config "$WORK/fast.toml" fast
write_config "$WORK/standard.toml" standard
mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# One monibox up/down first: it renders the bundle the compose stack mounts too (same files).
log "warm-up: monibox up/down once (renders the bundle, creates the volumes)"
mb up >/dev/null
mb down >/dev/null
mkdir -p "$WORK/compose"
cp -r "$WORK/state/$PROJECT/bundle" "$WORK/compose/bundle"
chmod -R a+rX "$WORK/compose"
P_PORT=$(free_port); A_PORT=$(free_port); G_PORT=$(free_port)
cat >"$WORK/compose/docker-compose.yml" <<EOF
version: "2.4"
x-hardening: &hardening
  read_only: true
  init: true
  cap_drop: [ALL]
  security_opt: [no-new-privileges]
services:
  prometheus:
    <<: *hardening
    image: $PROM_IMAGE
    command: ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.enable-lifecycle"]
    volumes: ["./bundle/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"]
    ports: ["127.0.0.1:$P_PORT:9090"]
    mem_limit: 1g
    healthcheck: {test: ["CMD", "/bin/promtool", "query", "instant", "http://127.0.0.1:9090", "vector(1)"], interval: 1s, timeout: 1s, retries: 30}
  alertmanager:
    <<: *hardening
    image: $AM_IMAGE
    command: ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", "--cluster.listen-address="]
    volumes: ["./bundle/alertmanager:/etc/alertmanager:ro", "alertmanager-data:/alertmanager"]
    ports: ["127.0.0.1:$A_PORT:9093"]
    mem_limit: 256m
    healthcheck: {test: ["CMD", "/bin/amtool", "config", "show", "--alertmanager.url=http://127.0.0.1:9093"], interval: 1s, timeout: 1s, retries: 30}
  grafana:
    <<: *hardening
    image: $STANDIN
    ports: ["127.0.0.1:$G_PORT:3000"]
    mem_limit: 512m
    healthcheck: {test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3000/api/health"], interval: 1s, timeout: 1s, retries: 30}
volumes:
  prometheus-data:
  alertmanager-data:
EOF
compose() { docker-compose -p "$COMPOSE_PROJECT" -f "$WORK/compose/docker-compose.yml" "$@"; }

# Polls the three endpoints every 25 ms until all answer 2xx (60 s at most).
cat >"$WORK/poll.py" <<'EOF'
import sys, time, urllib.request
urls = sys.argv[1:]
pending = set(urls)
deadline = time.monotonic() + 60
while pending and time.monotonic() < deadline:
    for url in list(pending):
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if 200 <= response.status < 300:
                    pending.discard(url)
        except Exception:
            pass
    if pending:
        time.sleep(0.025)
sys.exit(1 if pending else 0)
EOF
poll() { python3 "$WORK/poll.py" "http://127.0.0.1:$P_PORT/-/ready" "http://127.0.0.1:$A_PORT/-/ready" "http://127.0.0.1:$G_PORT/api/health"; }

MB_UP=(); MB_DOWN=(); DC_UP=(); DC_DOWN=()
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS: monibox"
    t0=$(now); mb up >/dev/null; t1=$(now)
    mb down >/dev/null; t2=$(now)
    MB_UP+=("$(elapsed "$t0" "$t1")"); MB_DOWN+=("$(elapsed "$t1" "$t2")")
    log "round $round/$ROUNDS: docker-compose"
    t0=$(now); compose up -d >/dev/null 2>&1; poll; t1=$(now)
    compose down >/dev/null 2>&1; t2=$(now)
    DC_UP+=("$(elapsed "$t0" "$t1")"); DC_DOWN+=("$(elapsed "$t1" "$t2")")
done

idle() { # $1 config file; prints "rss_mb cpu_percent"
    "$BIN" up --config "$1" --state-dir "$WORK/state" >/dev/null
    local pid
    pid=$(cat "$WORK/state/$PROJECT/daemon.pid")
    sleep 5
    local hz t0 t1 c0 c1
    hz=$(getconf CLK_TCK)
    c0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t0=$(now)
    sleep "$IDLE"
    c1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t1=$(now)
    local rss
    rss=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
    "$BIN" down --config "$1" --state-dir "$WORK/state" >/dev/null
    awk -v rss="$rss" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.1f %.2f\n", rss / 1024, (c1 - c0) / hz / (t1 - t0) * 100 }'
}
log "idle daemon, fast profile, ${IDLE} s"
read -r FAST_RSS FAST_CPU < <(idle "$WORK/fast.toml")
log "idle daemon, standard profile, ${IDLE} s"
read -r STD_RSS STD_CPU < <(idle "$WORK/standard.toml")

echo
echo "stack bring-up and teardown, local images, $ROUNDS interleaved rounds (seconds)"
printf '  %-34s %s\n' "monibox up (fast) to all-healthy" "${MB_UP[*]}"
printf '  %-34s %s\n' "docker-compose up -d + poll" "${DC_UP[*]}"
printf '  %-34s %s\n' "monibox down" "${MB_DOWN[*]}"
printf '  %-34s %s\n' "docker-compose down" "${DC_DOWN[*]}"
mu=$(median "${MB_UP[@]}"); du=$(median "${DC_UP[@]}"); md=$(median "${MB_DOWN[@]}"); dd=$(median "${DC_DOWN[@]}")
awk -v mu="$mu" -v du="$du" -v md="$md" -v dd="$dd" 'BEGIN {
    printf "  medians: up %.2f vs %.2f (monibox/compose %.2f); down %.2f vs %.2f (%.2f)\n",
        mu, du, mu / du, md, dd, md / dd }'
echo "idle daemon (demo service, ops listener, control socket, supervisor), ${IDLE} s from /proc"
printf '  fast profile (scraped every 1 s):      RSS %s MB, CPU %s%%\n' "$FAST_RSS" "$FAST_CPU"
printf '  standard profile (scraped every 15 s): RSS %s MB, CPU %s%%\n' "$STD_RSS" "$STD_CPU"
