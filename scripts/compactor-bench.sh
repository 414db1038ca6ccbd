#!/usr/bin/env bash
# Compactor benchmarks (W5 and W2 of ../shared/BENCHMARKS.md) with the release binaries:
# level-0 blocks are written by `contrail-cli block write` from `contrail-loadgen generate`
# corpora at zstd level 1 (what ingesters write: `BlockWriterConfig::new`), then compacted by `contrail-cli block compact` under /usr/bin/time -v (CPU seconds
# and peak RSS of the whole process, from the kernel).
#
#   scripts/compactor-bench.sh w5 [RUNS]   10 blocks of ~1M spans (seeds 1-10) merged in one job
#   scripts/compactor-bench.sh w2 [RUNS]   seed 1, 50,000 traces written three times (RF=3)
#
# Environment: WORK (scratch directory, default /tmp/contrail-compactor-bench), ZSTD_LEVEL
# (zstd level of the compacted block; default: the compactor's), COMPACT_ARGS (more
# `block compact` options, e.g. "--data-page-row-limit 20000 --byte-stream-split false"; see
# docs/adr/016-compacted-block-size.md).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"
work="${WORK:-/tmp/contrail-compactor-bench}"
workload="${1:-w5}"
runs="${2:-3}"
zstd_args=()
if [[ -n "${ZSTD_LEVEL:-}" ]]; then zstd_args=(--zstd-level "$ZSTD_LEVEL"); fi
if [[ -n "${COMPACT_ARGS:-}" ]]; then read -r -a compact_args <<<"$COMPACT_ARGS"; zstd_args+=("${compact_args[@]}"); fi
cargo build --release -p contrail --bin contrail-cli -p contrail-loadgen --bin contrail-loadgen

# Every corpus starts at 2024-01-01T00:00:00Z with 1,000 traces/s, so all blocks end in one
# 1 h compaction window (retention is off in `block compact` unless asked for).
start_time=1704067200

write_level0() { # seed traces out
    local corpus="$work/corpus-$1"
    rm -rf "$corpus"
    "$target/contrail-loadgen" generate --seed "$1" --traces "$2" --out "$corpus" \
        --start-time "$start_time" --traces-per-second 1000 >/dev/null
    # One block per corpus (a seed's ~993,000 spans), so W5 merges 10 blocks of ~1M spans: the
    # CLI's default cut at 1 GiB of per-trace OTLP bytes split each seed into ~981,000 + ~12,000.
    "$target/contrail-cli" block write --from "$corpus" --out "$3" --zstd-level 1 \
        --max-block-spans 2000000 --max-block-bytes 8589934592 >/dev/null
    rm -rf "$corpus"
}

value() { grep -m1 "^$1: " "$2" | sed "s/^$1: //"; }
time_value() { grep -m1 "$1" "$2" | awk -F': ' '{print $2}'; }

compact_runs() { # level0-dir label
    for run in $(seq 1 "$runs"); do
        rm -rf "$work/store"
        cp -r "$1" "$work/store"
        /usr/bin/time -v "$target/contrail-cli" block compact "$work/store" \
            --max-input-blocks 64 "${zstd_args[@]}" >"$work/out" 2>"$work/time"
        local input_bytes output_bytes output_spans input_spans cpu rss wall
        input_bytes=$(value "input bytes" "$work/out")
        output_bytes=$(value "output bytes" "$work/out")
        input_spans=$(value "input spans" "$work/out")
        output_spans=$(value "output spans" "$work/out")
        wall=$(value "seconds" "$work/out")
        cpu=$(awk -F': ' '/User time|System time/ {sum += $2} END {print sum}' "$work/time")
        rss=$(time_value "Maximum resident set size" "$work/time")
        awk -v label="$2" -v run="$run" -v ib="$input_bytes" -v ob="$output_bytes" \
            -v is="$input_spans" -v os="$output_spans" -v wall="$wall" -v cpu="$cpu" \
            -v rss="$rss" 'BEGIN {
                printf "%s run %d: input %d bytes, %d spans; output %d bytes, %d spans (%.2f B/span); ", label, run, ib, is, ob, os, ob / os;
                printf "wall %.2f s = %.1f MB/s; CPU %.2f s = %.1f MB/s per core-second; peak RSS %.0f MiB\n", wall, ib / wall / 1e6, cpu, ib / cpu / 1e6, rss / 1024
            }'
    done
}

case "$workload" in
w5)
    level0="$work/w5-level0"
    if [[ ! -d "$level0" ]]; then
        mkdir -p "$work"
        for seed in $(seq 1 10); do write_level0 "$seed" 51000 "$level0"; done
    fi
    "$target/contrail-cli" block list "$level0" | awk 'NR > 1 {n++; s += $5; b += $6} END {
        printf "level 0: %d blocks, %d spans, %d bytes (%.2f B/span)\n", n, s, b, b / s }'
    compact_runs "$level0" "W5"
    ;;
w2)
    level0="$work/w2-level0"
    if [[ ! -d "$level0" ]]; then
        mkdir -p "$work"
        corpus="$work/corpus-w2"
        rm -rf "$corpus"
        "$target/contrail-loadgen" generate --seed 1 --traces 50000 --out "$corpus" \
            --start-time "$start_time" --traces-per-second 1000 >/dev/null
        # Three level-0 blocks holding the same spans, as three RF=3 ingesters would write them.
        for replica in 1 2 3; do
            "$target/contrail-cli" block write --from "$corpus" --out "$level0" --zstd-level 1 >/dev/null
        done
        rm -rf "$corpus"
    fi
    "$target/contrail-cli" block list "$level0" | awk 'NR > 1 {n++; s += $5; b += $6} END {
        printf "level 0: %d blocks, %d spans, %d bytes (%.2f B/span; one replica %.2f B/span)\n", n, s, b, b / s, b / s }'
    compact_runs "$level0" "W2"
    echo "effective stored replication = output spans / unique spans (one replica's spans)"
    ;;
*)
    echo "usage: $0 w5|w2 [RUNS]" >&2
    exit 2
    ;;
esac
