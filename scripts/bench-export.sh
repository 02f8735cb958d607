#!/usr/bin/env bash
# bench-export.sh — the Compose export on the local Engine with local images only:
#
#  1. interleaved rounds of `docker-compose up -d` of `monibox export compose` (time until it
#     returns, then until Docker reports every container `healthy`) and `docker-compose down -v`,
#     against `monibox up` of the same configuration (it returns when every component answers)
#     and `monibox down --volumes`;
#  2. the CPU the export's 1 s health checks cost: each container's cgroup CPU time over IDLE
#     seconds of the running export.
#
# Images: the host builds of Prometheus and Alertmanager, the monibox image, and the Grafana
# stand-in (busybox httpd; not Grafana).
#
# Usage: scripts/bench-export.sh        Env: ROUNDS=5 IDLE=20
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS="${ROUNDS:-5}"
IDLE="${IDLE:-20}"
WORK="$(mktemp -d -t bench-export.XXXXXX)"
PROJECT="bench-export-$$"
COMPOSE_PROJECT="bench-compose-$$"
# shellcheck source=scripts/lib/stack-bench.sh
source scripts/lib/stack-bench.sh

compose() { docker-compose -p "$COMPOSE_PROJECT" -f "$WORK/export/compose.yaml" "$@"; }
cleanup() {
    "$BIN" down --volumes --config "$WORK/fast.toml" --state-dir "$WORK/state" >/dev/null 2>&1 || true
    [[ -f "$WORK/export/compose.yaml" ]] && compose down -v -t 2 >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_bench_images
"$BIN" images build --from-host --component monibox >&2
write_config "$WORK/fast.toml" fast
mb() { "$BIN" "$@" --config "$WORK/fast.toml" --state-dir "$WORK/state"; }
# Compose has no `auto` port: the export gets free ones.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sed -e "s/^app = .*/app = $(free_port)/" -e "s/^ops = .*/ops = $(free_port)/" \
    -e "s/^prometheus = \"auto\"/prometheus = $(free_port)/" \
    -e "s/^alertmanager = \"auto\"/alertmanager = $(free_port)/" \
    -e "s/^grafana = \"auto\"/grafana = $(free_port)/" "$WORK/fast.toml" >"$WORK/compose.toml"
"$BIN" export compose "$WORK/export" --config "$WORK/compose.toml" --state-dir "$WORK/state" >&2

all_healthy() {
    local ids states
    ids=$(compose ps -q)
    [[ $(wc -l <<<"$ids") -eq 4 ]] || return 1
    # shellcheck disable=SC2086
    states=$(docker inspect -f '{{.State.Health.Status}}' $ids)
    ! grep -qv '^healthy$' <<<"$states"
}

returned=(); healthy=(); up=()
for round in $(seq 1 "$ROUNDS"); do
    t0=$(now); compose up -d >/dev/null 2>&1; t1=$(now)
    for _ in $(seq 1 600); do all_healthy && break; sleep 0.025; done
    all_healthy || { log "round $round: not all healthy after 15 s"; exit 1; }
    t2=$(now)
    returned+=("$(elapsed "$t0" "$t1")"); healthy+=("$(elapsed "$t1" "$t2")")
    compose down -v -t 2 >/dev/null 2>&1
    t0=$(now); mb up >/dev/null; t1=$(now)
    up+=("$(elapsed "$t0" "$t1")")
    mb down --volumes >/dev/null
    log "round $round: compose up -d ${returned[-1]} s + healthy ${healthy[-1]} s; monibox up ${up[-1]} s"
done

printf '\n%-44s %s\n' "docker-compose up -d (returns)" "$(summary "${returned[@]}") s"
printf '%-44s %s\n' "  then until every container is healthy" "$(summary "${healthy[@]}") s"
printf '%-44s %s\n' "monibox up (returns when all answer)" "$(summary "${up[@]}") s"

compose up -d >/dev/null 2>&1
for _ in $(seq 1 600); do all_healthy && break; sleep 0.025; done
declare -A before
# cgroup v1 with the cgroupfs driver (this machine), else v2 with systemd's scopes.
cpu_usec() {
    local v1="/sys/fs/cgroup/cpuacct/docker/$1/cpuacct.usage"
    if [[ -r $v1 ]]; then awk '{ printf "%d", $1 / 1000 }' "$v1"
    else awk '/^usage_usec/ { print $2 }' "/sys/fs/cgroup/system.slice/docker-$1.scope/cpu.stat"; fi
}
ids=$(compose ps -q)
for id in $ids; do before[$id]=$(cpu_usec "$(docker inspect -f '{{.Id}}' "$id")"); done
sleep "$IDLE"
printf '\nCPU of each running service over %s s (health checks every second included):\n' "$IDLE"
for id in $ids; do
    full=$(docker inspect -f '{{.Id}}' "$id")
    name=$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$id")
    after=$(cpu_usec "$full")
    awk -v n="$name" -v a="${before[$id]}" -v b="$after" -v s="$IDLE" \
        'BEGIN { printf "  %-14s %5.2f%% of a core\n", n, (b - a) / (s * 1e6) * 100 }'
done
