#!/usr/bin/env bash
# bench-slo.sh — what SLO rules cost Prometheus: 10 [[slo]] on the demo service (5 availability,
# 5 latency; objectives 95–99.9%, windows 7d–30d) in the bundle `monibox config export` renders,
# the host's Prometheus running it (127.0.0.1, a free port) and scraping `monibox serve`
# (127.0.0.1, a free port) under a bounded load from `monibox load` (closed model, USERS users,
# the default mix, 20% of it /error). After DURATION seconds it prints, per SLO rule group, the
# median and max over that time of prometheus_rule_group_last_duration_seconds, and the max of
# their sum.
# Target: < 50 ms per group. It fails if a group is missing, unhealthy or never evaluated.
#
# With minutes of data, the 1d and 3d windows hold minutes of samples, not days: the number is
# the cost of the rules' structure (16 rules per SLO, the SLO window from recordings), not of a
# month of history.
#
# Nothing but 127.0.0.1 is touched; no container is used. Prometheus, the demo service and the
# load are started here and stopped by their PIDs at the end, the temp dir removed.
#
# Usage: scripts/bench-slo.sh     Env: DURATION=180 TIMING=standard USERS=20 BIN=path/to/monibox
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION="${DURATION:-180}"
TIMING="${TIMING:-standard}"
USERS="${USERS:-20}"
BIN="${BIN:-$PWD/target/release/monibox}"
WORK="$(mktemp -d -t bench-slo.XXXXXX)"
PIDS=()
log() { printf '>> %s\n' "$*" >&2; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v prometheus >/dev/null || { echo "bench-slo.sh needs the host's prometheus" >&2; exit 2; }
if [[ ! -x "$BIN" ]]; then
    log "building release"
    cargo build --release --locked -q
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
APP_PORT=$(free_port)
OPS_PORT=$(free_port)
PROM_PORT=$(free_port)

cat >"$WORK/monibox.toml" <<CONFIG
project = "bench-slo-$$"
timing = "$TIMING"
[ports]
app = $APP_PORT
ops = $OPS_PORT
prometheus = $PROM_PORT
[components]
alertmanager = false
grafana = false
CONFIG
for spec in "availability-999 99.9 30d" "availability-995 99.5 30d" "availability-99 99 28d" \
    "availability-9875 98.75 30d" "availability-95 95 7d"; do
    read -r name objective window <<<"$spec"
    printf '\n[[slo]]\nname = "demo-%s"\njob = "app"\nobjective = %s\nwindow = "%s"\navailability = {}\n' \
        "$name" "$objective" "$window" >>"$WORK/monibox.toml"
done
for spec in "latency-100ms 99 0.1 30d" "latency-250ms 99 0.25 30d" "latency-500ms 99.5 0.5 28d" \
    "latency-1s 99.9 1 30d" "latency-50ms 95 0.05 7d"; do
    read -r name objective threshold window <<<"$spec"
    printf '\n[[slo]]\nname = "demo-%s"\njob = "app"\nobjective = %s\nwindow = "%s"\nlatency = { threshold = %s }\n' \
        "$name" "$objective" "$window" "$threshold" >>"$WORK/monibox.toml"
done
mb() { "$BIN" "$@" --config "$WORK/monibox.toml"; }

log "rendering the bundle (monibox config export, timing $TIMING)"
mb config export "$WORK/bundle" --state-dir "$WORK/state" >/dev/null
GROUPS_IN_FILE=$(grep -c '^- name: monibox-slo-' "$WORK/bundle/prometheus/rules/slo.yml")
[[ "$GROUPS_IN_FILE" -eq 10 ]] || { echo "slo.yml has $GROUPS_IN_FILE SLO groups, not 10" >&2; exit 1; }

log "monibox serve on 127.0.0.1:$APP_PORT, prometheus on 127.0.0.1:$PROM_PORT"
"$BIN" serve --listen "127.0.0.1:$APP_PORT" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
(cd "$WORK/bundle/prometheus" && exec prometheus --config.file=prometheus.yml \
    --storage.tsdb.path="$WORK/data" --web.listen-address="127.0.0.1:$PROM_PORT" \
    >"$WORK/prometheus.log" 2>&1) &
PIDS+=($!)
PROM="http://127.0.0.1:$PROM_PORT"
for _ in $(seq 1 100); do
    curl -sf "$PROM/-/ready" >/dev/null && break
    sleep 0.2
done
curl -sf "$PROM/-/ready" >/dev/null || { cat "$WORK/prometheus.log" >&2; exit 1; }

log "load: $USERS users for ${DURATION}s against 127.0.0.1:$APP_PORT"
"$BIN" load --target "http://127.0.0.1:$APP_PORT" --users "$USERS" --duration "${DURATION}s" \
    --json >"$WORK/load.json" 2>"$WORK/load.log" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
wait "$LOAD_PID" || { cat "$WORK/load.log" >&2; exit 1; }
# The last evaluations and the self-scrape that records them.
sleep "$( [[ "$TIMING" == fast ]] && echo 3 || echo 32 )"

query() { curl -sf "$PROM/api/v1/query" --data-urlencode "query=$1"; }
SELECTOR='prometheus_rule_group_last_duration_seconds{rule_group=~".*;monibox-slo-.+"}'
RANGE="${DURATION}s"
PER_GROUP=$(query "max_over_time(${SELECTOR}[$RANGE])")
MEDIAN=$(query "quantile_over_time(0.5, ${SELECTOR}[$RANGE])")
TOTAL=$(query "max_over_time(sum(${SELECTOR})[$RANGE:])")
ITERATIONS=$(query 'min(prometheus_rule_group_iterations_total{rule_group=~".*;monibox-slo-.+"})')
RULES=$(curl -sf "$PROM/api/v1/rules")
REQUESTS=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["totals"]["requests"])' <"$WORK/load.json" 2>/dev/null || echo "?")

python3 - "$PER_GROUP" "$MEDIAN" "$TOTAL" "$ITERATIONS" "$RULES" "$TIMING" "$DURATION" "$REQUESTS" <<'PY'
import json, sys
per_group, median, total, iterations, rules = (json.loads(a) for a in sys.argv[1:6])
timing, duration, requests = sys.argv[6:9]
medians = {s["metric"]["rule_group"].split(";", 1)[1]: float(s["value"][1]) * 1000
           for s in median["data"]["result"]}
groups = {g["name"]: g for g in rules["data"]["groups"] if g["name"].startswith("monibox-slo-")}
problems = [f"{name}: {r['name']} {r['health']} {r.get('lastError', '')}"
            for name, g in groups.items() for r in g["rules"] if r["health"] != "ok"]
rows = sorted(((s["metric"]["rule_group"].split(";", 1)[1], float(s["value"][1]) * 1000)
               for s in per_group["data"]["result"]), key=lambda row: row[0])
if len(groups) != 10 or len(rows) != 10 or problems:
    sys.exit(f"expected 10 healthy SLO groups with durations: {len(groups)} loaded, "
             f"{len(rows)} measured, unhealthy: {problems}")
evaluated = iterations["data"]["result"]
count = int(float(evaluated[0]["value"][1])) if evaluated else 0
if count < 2:
    sys.exit(f"the SLO groups were evaluated {count} times")
rules_per_group = {name: len(g["rules"]) for name, g in groups.items()}
print(f"SLO rule groups: 10, timing {timing}, {duration} s of load ({requests} requests), "
      f"each group evaluated at least {count} times")
print(f"{'rule group':<36} {'rules':>5} {'median':>11} {'max':>11}  (last_duration)")
for name, ms in rows:
    print(f"{name:<36} {rules_per_group[name]:>5} {medians[name]:>8.2f} ms {ms:>8.2f} ms")
total_ms = float(total["data"]["result"][0]["value"][1]) * 1000
worst = max(ms for _, ms in rows)
print(f"{'max of the sum over the 10 groups':<54} {total_ms:>8.2f} ms")
print(f"target < 50 ms per group: {'met' if worst < 50 else 'MISSED'} (worst {worst:.2f} ms)")
PY
