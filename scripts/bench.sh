#!/usr/bin/env bash
# Benchmark runner: builds the release binaries, then runs the workloads of
# ../shared/BENCHMARKS.md it drives (W1 ingest, W2 storage, W6 freshness; W3, W4 and W5 have
# their own commands, listed in BENCHMARKS.md) against the single binary configured by
# scripts/bench/tempo-bench.yaml, and writes the medians between the bench-runner markers of
# BENCHMARKS.md.
# Extra arguments go to `contrail-loadgen bench` (e.g. --runs 5 --w1-duration 60 --no-markdown,
# or --workloads w6 for one workload).
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
# --workspace: the same feature set as every other release build, so nothing is built twice
cargo build --release --workspace --bins
exec "$target_dir/release/contrail-loadgen" bench \
    --contrail "$target_dir/release/contrail" \
    --cli "$target_dir/release/contrail-cli" \
    --repo . \
    --server-config scripts/bench/tempo-bench.yaml \
    "$@"
