#!/usr/bin/env bash
# What node-exporter costs: `monibox up` time (from `down`, containers created again) with and
# without it, interleaved ROUNDS times; then node_exporter's CPU and RSS while the standard
# profile's Prometheus scrapes it every 15 s, over WINDOW seconds (from /proc/<pid>/stat and
# /proc/<pid>/status of its process). Its own project, state directory and `auto` ports; all
# removed at the end. Grafana is off (no image can be had here); Prometheus and Alertmanager run
# from their host builds, node-exporter from its host build or prom/node-exporter.
#
#   scripts/bench-node-exporter.sh [MONIBOX_BINARY]   (ROUNDS=5 WINDOW=120 by default)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
monibox=${1:-target/test-release/monibox}
rounds=${ROUNDS:-5}
window=${WINDOW:-120}
project="bench-node-$$"
state=$(mktemp -d /tmp/monibox-bench-node.XXXXXX)
config="$state/monibox.toml"
cat >"$config" <<EOF
project = "$project"
[ports]
app = "auto"
ops = "auto"
prometheus = "auto"
alertmanager = "auto"
grafana = "auto"
node-exporter = "auto"
[components]
grafana = false
[discovery]
docker = false
EOF
run() { "$monibox" "$@" --config "$config" --state-dir "$state/state"; }
cleanup() { run down --volumes >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT

"$monibox" images build --from-host >/dev/null
now() { date +%s.%N; }
with=() without=()
for ((i = 0; i < rounds; i++)); do
    for node in true false; do
        run down >/dev/null
        start=$(now)
        MONIBOX_COMPONENTS_NODE_EXPORTER=$node run up >/dev/null
        elapsed=$(echo "$(now) - $start" | bc)
        if [[ $node == true ]]; then with+=("$elapsed"); else without+=("$elapsed"); fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf 'monibox up (from down, %d rounds, interleaved): with node-exporter median %.2f s, without %.2f s\n' \
    "$rounds" "$(median "${with[@]}")" "$(median "${without[@]}")"

MONIBOX_COMPONENTS_NODE_EXPORTER=true run up >/dev/null
pid=$(docker inspect -f '{{.State.Pid}}' "monibox-$project-node-exporter")
# The init process is PID 1 of the container; node_exporter is its child.
child=$(cat "/proc/$pid/task/$pid/children" | awk '{print $1}')
pid=${child:-$pid}
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sleep 20
before=$(cpu)
sleep "$window"
after=$(cpu)
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
echo "node_exporter scraped every 15 s for $window s: CPU $(echo "scale=3; ($after - $before) * 100 / $ticks / $window" | bc)% of a core, RSS $((rss_kb / 1024)) MB (peak $((hwm_kb / 1024)) MB)"
