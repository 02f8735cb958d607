#!/usr/bin/env bash
# bench-faults.sh — how fast the daemon's supervisor heals the stack (fast timing profile):
#
#  - kill→healthy: `docker kill` (SIGKILL) of Prometheus until a Prometheus container runs again
#    and answers /-/ready;
#  - rm→healthy: `docker rm -f` of Alertmanager until a new one answers /-/ready;
#
# ROUNDS runs of each (faults and polling through the Engine API, every 25 ms; see
# scripts/lib/fault-timer.py), each after STABLE seconds of quiet, longer than the fast profile's
# stable period (10 s), so every run measures a first, immediate restart rather than a backoff.
# Prints min/median/max, the restarts `status --json` counted, then `down --volumes` and a leak
# check: no container, network or volume of the project and no daemon process may remain.
#
# Images: the host builds of Prometheus and Alertmanager (`monibox images build --from-host`)
# and the Grafana stand-in (busybox httpd answering /api/health; not Grafana).
#
# Usage: scripts/bench-faults.sh        Env: ROUNDS=5 STABLE=11
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
STABLE="${STABLE:-11}"
WORK="$(mktemp -d -t bench-faults.XXXXXX)"
PROJECT="bench-faults-$$"
# shellcheck source=scripts/lib/stack-bench.sh
source scripts/lib/stack-bench.sh

cleanup() {
    "$BIN" down --volumes --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_bench_images
write_config "$WORK/fast.toml" fast
mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }

log "monibox up --timing fast"
mb up >/dev/null

measure() { # $1 fault (kill|rm), $2 component, $3 container port; prints one time per round
    local round
    for round in $(seq "$ROUNDS"); do
        sleep "$STABLE"
        log "$1 $2: round $round/$ROUNDS"
        python3 scripts/lib/fault-timer.py "$1" "monibox-$PROJECT-$2" "$3" /-/ready
    done
}
mapfile -t KILL < <(measure kill prometheus 9090)
mapfile -t RM < <(measure rm alertmanager 9093)
((${#KILL[@]} == ROUNDS && ${#RM[@]} == ROUNDS)) || { log "a run failed"; exit 1; }

# status exits 1 when something is degraded; the counts are what matters here.
COUNTED=$({ mb status --json || true; } | python3 -c 'import json, sys
report = json.load(sys.stdin)
print(", ".join("%s %s" % (c["name"], c.get("supervisor_restarts")) for c in report["components"]
                if c["name"] in ("prometheus", "alertmanager", "grafana")))')

log "down --volumes and the leak check"
mb down --volumes >/dev/null
LABEL="label=io.monibox.project=$PROJECT"
LEAKS=()
[[ -z "$(docker ps -aq --filter "$LABEL")" ]] || LEAKS+=("containers: $(docker ps -a --filter "$LABEL" --format '{{.Names}}' | xargs)")
[[ -z "$(docker network ls -q --filter "$LABEL")" ]] || LEAKS+=("networks: $(docker network ls --filter "$LABEL" --format '{{.Name}}' | xargs)")
[[ -z "$(docker volume ls -q --filter "$LABEL")" ]] || LEAKS+=("volumes: $(docker volume ls -q --filter "$LABEL" | xargs)")
DAEMONS=$(pgrep -f -- "daemon --project $PROJECT " || true)
[[ -z "$DAEMONS" ]] || LEAKS+=("daemon processes: $(echo "$DAEMONS" | xargs)")

echo
echo "supervisor recovery, fast profile, local images, $ROUNDS runs each (seconds, fault → answering)"
printf '  %-40s %s   (%s)\n' "docker kill prometheus → /-/ready" "$(summary "${KILL[@]}")" "${KILL[*]}"
printf '  %-40s %s   (%s)\n' "docker rm -f alertmanager → /-/ready" "$(summary "${RM[@]}")" "${RM[*]}"
echo "  restarts counted by the supervisor (status --json): $COUNTED"
if ((${#LEAKS[@]})); then
    printf '  leak check: LEFT BEHIND %s\n' "${LEAKS[@]}"
    exit 1
fi
echo "  leak check: no container, network, volume or daemon process of the project left"
