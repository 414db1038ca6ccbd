#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, then runs them.
#
# What it installs (idempotent, skipped when already present):
# - the Rust toolchain pinned in rust-toolchain.toml, through rustup, with rustfmt and clippy;
# - the Python packages of scripts/test-requirements.txt (Helm as a library, Kubernetes schema
#   validation, DuckDB), with pip;
# - promtool (Debian's `prometheus` package), which checks the /metrics text format, with apt-get
#   (as root, or through sudo).
# Then it runs `cargo test --workspace --no-fail-fast` (every test binary, even after a
# failure). Tests that need ../shared (the conformance files) say so in one line and count as
# skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found; install rustup (https://rustup.rs) first" >&2
    exit 1
fi
# rustup reads rust-toolchain.toml and installs the pinned toolchain and components if missing.
rustup show active-toolchain >/dev/null
for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^${component}" || rustup component add "$component"
done

if ! command -v python3 >/dev/null 2>&1; then
    echo "test.sh: python3 not found; the Helm chart and DuckDB checks need it" >&2
    exit 1
fi
if ! python3 -c 'import helm_python, kubernetes_validate, yaml, duckdb' >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check -r scripts/test-requirements.txt
fi

if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
    $apt_get update -qq
    DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq --no-install-recommends prometheus >/dev/null
fi

cargo test --workspace --no-fail-fast
