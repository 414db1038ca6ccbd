#!/usr/bin/env bash
# Issue 10's "outstanding blocks under the W1 load": the single binary (scripts/bench/tempo-bench.yaml,
# its compactor on with the defaults) under W1's client (`contrail-loadgen send --preencoded`,
# 8 OTLP gRPC streams) for DURATION seconds, with `contrail_compactor_outstanding_blocks`, the
# live and compacted metas in the bucket and the server's RSS sampled every 15 s.
#
#   scripts/w1-outstanding-blocks.sh [DURATION] [TRACES_PER_SECOND]
#
# TRACES_PER_SECOND is the client's simulated trace rate (default 7000: at W1's ~140,000 spans/s
# the replayed spans' times advance about as fast as the clock, so blocks fall into the current
# compaction window as they would in production; the client's own default of 100 makes time
# run ~70x faster and spreads the blocks over many windows). Needs the release binaries; uses
# ports 3200, 4317 and 9095 on 127.0.0.1 and WORK (default /tmp/contrail-w1-outstanding).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
duration=${1:-480}
tps=${2:-7000}
work=${WORK:-/tmp/contrail-w1-outstanding}
contrail="$repo/target/release/contrail"
loadgen="$repo/target/release/contrail-loadgen"
for binary in "$contrail" "$loadgen"; do
    [[ -x $binary ]] || { echo "missing $binary (cargo build --release --workspace --bins)" >&2; exit 1; }
done
rm -rf "$work"
mkdir -p "$work/data"
cp "$repo/scripts/bench/tempo-bench.yaml" "$work/tempo.yaml"
cd "$work"
"$contrail" -config.file=tempo.yaml >server.log 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do curl -sf 127.0.0.1:3200/ready >/dev/null && break; sleep 0.5; done
"$loadgen" send --endpoint http://127.0.0.1:4317 --preencoded --traces-per-second "$tps" \
    --streams 8 --duration "$duration" --quiet >send.log 2>&1 &
client=$!
while kill -0 "$client" 2>/dev/null; do
    outstanding=$(curl -s 127.0.0.1:3200/metrics \
        | awk '/^contrail_compactor_outstanding_blocks/ {print $2}' | tr '\n' ' ')
    live=$(find data/blocks -name meta.json 2>/dev/null | wc -l)
    compacted=$(find data/blocks -name meta.compacted.json 2>/dev/null | wc -l)
    rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server/status")
    echo "$(date -u +%H:%M:%S) outstanding=[${outstanding% }] live_metas=$live compacted_metas=$compacted rss_mib=$rss"
    sleep 15
done
wait "$client" || true
head -c 600 send.log; echo
awk '/VmHWM/ {print "server peak RSS MiB", int($2 / 1024)}' "/proc/$server/status"
