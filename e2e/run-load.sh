#!/usr/bin/env bash
# Load test (autocannon) of target/release/authql, or of $AUTHQL_BIN: builds the release
# binary when it is missing, installs Node.js when missing and e2e/node_modules from the
# lockfile when autocannon (or any locked package) is not installed at its locked version,
# then runs e2e/load.mjs. Figures go in docs/benchmarks.md. Environment: LOAD_DURATION
# (seconds per scenario, 10), LOAD_CONNECTIONS (32), LOAD_RUST_LOG (server filter, info).
# Extra arguments go to load.mjs (`--markdown`: also print the docs table).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

source "$root/e2e/lib.sh"
ensure_node

if [ -z "${AUTHQL_BIN:-}" ]; then
  AUTHQL_BIN="$root/target/release/authql"
  if [ ! -x "$AUTHQL_BIN" ]; then
    echo "run-load: $AUTHQL_BIN not found; cargo build --release" >&2
    cargo build --release --bin authql >&2
  elif [ -n "$(find src entity macros migration Cargo.toml Cargo.lock -newer "$AUTHQL_BIN" \
                 -type f -print -quit 2>/dev/null)" ]; then
    echo "run-load: warning: $AUTHQL_BIN is older than the sources;" \
         "run \`cargo build --release\` for current figures" >&2
  fi
fi
if [ ! -x "$AUTHQL_BIN" ]; then
  echo "run-load: $AUTHQL_BIN is not an executable" >&2
  exit 1
fi
export AUTHQL_BIN

ensure_node_modules

exec node e2e/load.mjs "$@"
