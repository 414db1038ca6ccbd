#!/usr/bin/env bash
# Builds the W3 search corpus (../shared/BENCHMARKS.md W3) reproducibly: CHUNKS load-generator
# corpora (seeds SEED, SEED+1, ...; consecutive in simulated time) of TRACES traces each, every
# chunk written as vc1 blocks of at most MAX_BLOCK_SPANS spans by `contrail-cli block write`,
# into OUT/single-tenant/<block>/. The OTLP files of a chunk are deleted once written, so the
# disk holds one chunk (~0.5 GB) plus the blocks (~47 B/span).
#
# Usage: scripts/w3/build_corpus.sh OUT [CHUNKS] [TRACES] [SEED]
#   defaults: 10 chunks of 52,000 traces (about 10.1M spans), seed 1
# Needs the release binaries: cargo build --release -p contrail --bin contrail-cli -p contrail-loadgen
set -euo pipefail

out=${1:?usage: build_corpus.sh OUT [CHUNKS] [TRACES] [SEED]}
chunks=${2:-10}
traces=${3:-52000}
seed=${4:-1}
max_block_spans=${MAX_BLOCK_SPANS:-1200000}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cli="$repo/target/release/contrail-cli"
loadgen="$repo/target/release/contrail-loadgen"
# fixed start of simulated time (2026-11-01T00:00:00Z) so every run gives the same blocks
start=1793491200
traces_per_second=100

for binary in "$cli" "$loadgen"; do
    [[ -x $binary ]] || { echo "missing $binary (build the release binaries first)" >&2; exit 1; }
done
if [[ -e $out ]] && [[ -n $(ls -A "$out") ]]; then
    echo "$out is not empty; remove it first" >&2
    exit 1
fi
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/w3-otlp.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

for ((chunk = 0; chunk < chunks; chunk++)); do
    chunk_start=$((start + chunk * traces / traces_per_second))
    rm -rf "$scratch/otlp"
    "$loadgen" generate --seed $((seed + chunk)) --traces "$traces" \
        --traces-per-second "$traces_per_second" --start-time "$chunk_start" \
        --out "$scratch/otlp" >"$scratch/summary.json"
    echo "chunk $chunk: $(cat "$scratch/summary.json")" >&2
    "$cli" block write --from "$scratch/otlp" --out "$out" --max-block-spans "$max_block_spans" >&2
done
"$cli" block list "$out"
