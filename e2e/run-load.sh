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

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
  fi
  echo "run-load: apt-get install nodejs npm" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
fi
# Global fetch (18); autocannon 9 itself supports older releases.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  echo "run-load: Node.js >= 18 is required, found $(node --version)" >&2
  exit 1
fi

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

# Unlike run-audit.sh, dev packages count: autocannon is one.
installed_matches_lock() {
  node -e '
    const fs = require("fs");
    const path = require("path");
    const dir = process.argv[1];
    const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
    for (const [where, locked] of Object.entries(lock.packages ?? {})) {
      if (where === "" || locked.link) continue;
      let installed;
      try {
        installed = JSON.parse(fs.readFileSync(path.join(dir, where, "package.json"), "utf8"));
      } catch {
        if (locked.optional) continue;
        process.exit(1);
      }
      if (installed.version !== locked.version) process.exit(1);
    }
  ' e2e
}

if [ ! -d e2e/node_modules ] || ! installed_matches_lock; then
  echo "run-load: installing e2e/node_modules from package-lock.json" >&2
  (cd e2e && npm ci --no-audit --no-fund --include=dev) >&2
fi

exec node e2e/load.mjs "$@"
