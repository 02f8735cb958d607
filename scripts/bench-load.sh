#!/usr/bin/env bash
# bench-load.sh: how `monibox load` compares with wrk, and whether it stays flat and on rate.
#
#   1. throughput: wrk, wrk under SCHED_BATCH (`chrt -b 0 wrk`: the scheduling policy monibox
#      gives its own worker threads, so the comparison shows what the policy gives and what the
#      client does) and `monibox load --users CONNS --think-time 0` (the closed model without
#      think time is what wrk does) against the same endpoint of one `monibox serve`, with the same
#      connection and thread counts, interleaved A/B/C/A/B/C so machine noise hits all alike;
#      prints req/s, p50, p99 and the generator's own CPU per request of every run, and the mean
#      ratios monibox / wrk and monibox / wrk-batch.
#   2. memory: RSS of one long `monibox load` run after RSS_EARLY and RSS_LATE seconds.
#   3. open model: `monibox load --rate RATE` for DURATION; the achieved rate's error.
#
# Usage: scripts/bench-load.sh        (env below; everything runs on 127.0.0.1 only)
# Env (defaults): ENDPOINT=/ CONNS=50 THREADS=2 DURATION=10 ROUNDS=3 WARMUP=2
#                 RSS_EARLY=10 RSS_LATE=60 RATE=1000 SKIP_BUILD=
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ENDPOINT="${ENDPOINT:-/}"
CONNS="${CONNS:-50}"
THREADS="${THREADS:-2}"
DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"
WARMUP="${WARMUP:-2}"
RSS_EARLY="${RSS_EARLY:-10}"
RSS_LATE="${RSS_LATE:-60}"
RATE="${RATE:-1000}"

log() { printf '>> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

for tool in wrk jq; do
    if ! command -v "$tool" >/dev/null; then
        [[ $(id -u) -eq 0 ]] || die "$tool is needed: sudo apt-get install -y $tool"
        log "installing $tool"
        (apt-get update -qq && apt-get install -y -qq --no-install-recommends "$tool") >/dev/null \
            || die "could not install $tool"
    fi
done

WORK="$(mktemp -d -t bench-load.XXXXXX)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${SKIP_BUILD:-}" ]]; then
    log "building release"
    cargo build --release --locked --quiet
fi
MONIBOX="$PWD/target/release/monibox"

# ---- the server: one `monibox serve` on a free port ----------------------------------------
"$MONIBOX" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>&1 &
PIDS+=($!)
ADDR=""
for _ in $(seq 100); do
    ADDR="$(grep -oE '127\.0\.0\.1:[1-9][0-9]*' "$WORK/serve.out" | head -n 1 || true)"
    [[ -n "$ADDR" ]] && break
    kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$WORK/serve.out" >&2; die "monibox serve exited"; }
    sleep 0.1
done
[[ -n "$ADDR" ]] || { cat "$WORK/serve.out" >&2; die "monibox serve printed no address"; }
BASE="http://$ADDR"
URL="$BASE$ENDPOINT"
for _ in $(seq 50); do curl -fsS -o /dev/null --max-time 1 "$URL" && break; sleep 0.1; done
log "monibox serve on $BASE; endpoint $ENDPOINT"

to_ms() {  # wrk's "1.23ms" | "456.00us" | "1.02s" -> milliseconds
    awk -v v="$1" 'BEGIN{
        if (v ~ /us$/) { sub(/us$/,"",v); printf "%.3f", v/1000 }
        else if (v ~ /ms$/) { sub(/ms$/,"",v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/,"",v); printf "%.3f", v*1000 }
        else printf "NA" }'
}

# CPU seconds (user + system) the timed command used, from bash's `time` (no extra package).
TIMEFORMAT='%U %S'
cpu_seconds() { awk '{ print $1 + $2 }' "$1"; }

run_wrk() {  # $1 seconds [$2 "batch"] -> "req_s p50_ms p99_ms cpu_s requests"
    local out="$WORK/wrk.txt" policy=()
    [[ "${2:-}" == batch ]] && policy=(chrt -b 0)
    { time timeout $(($1 + 30)) "${policy[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$1s" --timeout 5s --latency "$URL" >"$out" 2>&1 \
        || log "wrk exited non-zero"; } 2>"$WORK/wrk.cpu"
    printf '%s %s %s %s %s\n' "$(awk '/^Requests\/sec:/{print $2}' "$out")" \
        "$(to_ms "$(awk '$1=="50%"{print $2}' "$out")")" "$(to_ms "$(awk '$1=="99%"{print $2}' "$out")")" \
        "$(cpu_seconds "$WORK/wrk.cpu")" "$(awk '/requests in/{print $1}' "$out")"
}

run_monibox() {  # $1 seconds -> "req_s p50_ms p99_ms cpu_s requests"
    local out="$WORK/monibox.json"
    { time timeout $(($1 + 30)) "$MONIBOX" load --target "$BASE" --mix "$ENDPOINT" --users "$CONNS" \
        --think-time 0 --threads "$THREADS" --timeout 5s --duration "$1s" --json >"$out" 2>"$WORK/monibox.err" \
        || log "monibox load exited non-zero: $(cat "$WORK/monibox.err")"; } 2>"$WORK/monibox.cpu"
    printf '%s %s\n' \
        "$(jq -r '"\(.totals.rps * 100 | round / 100) \(.totals.latency_ms.p50) \(.totals.latency_ms.p99)"' "$out")" \
        "$(cpu_seconds "$WORK/monibox.cpu") $(jq -r '.totals.requests' "$out")"
}

# ---- 1. throughput, interleaved ----------------------------------------------------------------
log "warmup ${WARMUP}s each"
run_wrk "$WARMUP" >/dev/null
run_wrk "$WARMUP" batch >/dev/null
run_monibox "$WARMUP" >/dev/null
printf 'round\ttool\treq_s\tp50_ms\tp99_ms\tcpu_s\trequests\n' >"$WORK/runs.tsv"
for round in $(seq "$ROUNDS"); do
    log "round $round/$ROUNDS: wrk, wrk-batch, then monibox load (${DURATION}s each, $CONNS connections, $THREADS threads)"
    printf '%s\twrk\t%s\n' "$round" "$(run_wrk "$DURATION" | tr ' ' '\t')" >>"$WORK/runs.tsv"
    printf '%s\twrk-batch\t%s\n' "$round" "$(run_wrk "$DURATION" batch | tr ' ' '\t')" >>"$WORK/runs.tsv"
    printf '%s\tmonibox\t%s\n' "$round" "$(run_monibox "$DURATION" | tr ' ' '\t')" >>"$WORK/runs.tsv"
done

# ---- 2. memory over a long run ------------------------------------------------------------------
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo NA; }
log "memory: one ${RSS_LATE}s run, RSS sampled at ${RSS_EARLY}s and ${RSS_LATE}s"
"$MONIBOX" load --target "$BASE" --mix "$ENDPOINT" --users "$CONNS" --think-time 0 --threads "$THREADS" \
    --timeout 5s --duration "$((RSS_LATE + 3))s" --json >"$WORK/long.json" 2>"$WORK/long.err" &
LOAD_PID=$!
PIDS+=("$LOAD_PID")
sleep "$RSS_EARLY"
RSS_AT_EARLY="$(rss_kib "$LOAD_PID")"
sleep "$((RSS_LATE - RSS_EARLY))"
RSS_AT_LATE="$(rss_kib "$LOAD_PID")"
wait "$LOAD_PID" || log "long monibox load run exited non-zero: $(cat "$WORK/long.err")"
LONG_REQUESTS="$(jq -r '.totals.requests' "$WORK/long.json" 2>/dev/null || echo NA)"

# ---- 3. open-model rate ----------------------------------------------------------------------
log "open model: --rate $RATE for ${DURATION}s"
"$MONIBOX" load --target "$BASE" --mix "$ENDPOINT" --rate "$RATE" --timeout 5s --duration "${DURATION}s" \
    --json >"$WORK/open.json"
OPEN="$(jq -r '"\(.totals.requests) \(.totals.rps) \(.duration_seconds) \(.late_starts.count) \(.totals.latency_ms.p50) \(.totals.latency_ms.p99)"' "$WORK/open.json")"
read -r OPEN_REQUESTS OPEN_RPS OPEN_SECONDS OPEN_LATE OPEN_P50 OPEN_P99 <<<"$OPEN"

# ---- report -----------------------------------------------------------------------------------
echo
echo "== $(nproc) cores shared by server and load generator; endpoint $ENDPOINT; -c$CONNS -t$THREADS; ${DURATION}s x $ROUNDS rounds"
echo "== every run"
column -t -s $'\t' "$WORK/runs.tsv"
echo
echo "== throughput (mean over rounds; ratio = monibox / wrk)"
awk -F'\t' 'NR > 1 { n[$2]++; rps[$2] += $3; p50[$2] += $4; p99[$2] += $5; cpu[$2] += $6; req[$2] += $7 }
END {
    printf "%-10s %10s %9s %9s %14s\n", "tool", "req/s", "p50_ms", "p99_ms", "cpu_us/request"
    for (t in n) printf "%-10s %10.0f %9.3f %9.3f %14.2f\n", t, rps[t]/n[t], p50[t]/n[t], p99[t]/n[t], (req[t] > 0 ? cpu[t] * 1e6 / req[t] : 0)
    if (rps["wrk"] > 0) printf "ratio req/s monibox/wrk: %.3f (target >= 1.05); cpu/request monibox/wrk: %.3f (target <= 1)\n", (rps["monibox"]/n["monibox"]) / (rps["wrk"]/n["wrk"]), (cpu["monibox"]/req["monibox"]) / (cpu["wrk"]/req["wrk"])
    if (rps["wrk-batch"] > 0) printf "ratio req/s monibox/wrk-batch: %.3f; cpu/request monibox/wrk-batch: %.3f\n", (rps["monibox"]/n["monibox"]) / (rps["wrk-batch"]/n["wrk-batch"]), (cpu["monibox"]/req["monibox"]) / (cpu["wrk-batch"]/req["wrk-batch"])
}' "$WORK/runs.tsv"
echo
echo "== memory of monibox load ($LONG_REQUESTS requests in $((RSS_LATE + 3))s)"
echo "RSS after ${RSS_EARLY}s: ${RSS_AT_EARLY} KiB; after ${RSS_LATE}s: ${RSS_AT_LATE} KiB"
awk -v a="$RSS_AT_EARLY" -v b="$RSS_AT_LATE" -v e="$RSS_EARLY" -v l="$RSS_LATE" \
    'BEGIN { if (a > 0) printf "growth %ds -> %ds: %+.1f%% (target within 10%%)\n", e, l, (b - a) * 100 / a }'
echo
echo "== open model at $RATE req/s"
awk -v r="$RATE" -v n="$OPEN_REQUESTS" -v got="$OPEN_RPS" -v s="$OPEN_SECONDS" -v late="$OPEN_LATE" \
    -v p50="$OPEN_P50" -v p99="$OPEN_P99" 'BEGIN {
    printf "%d requests in %.3fs: %.1f req/s, error %+.2f%% (target within 2%%); late starts %s; p50 %.3fms p99 %.3fms\n",
        n, s, got, (got - r) * 100 / r, late, p50, p99 }'
