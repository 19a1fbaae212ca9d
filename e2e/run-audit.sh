#!/usr/bin/env bash
# GraphQL-over-HTTP compliance audit (graphql-http) of target/debug/authql, or of
# $AUTHQL_BIN. CI runs it after `cargo test`, which builds the binary. Works from any
# directory on a fresh Debian machine: installs Node.js when missing, and e2e/node_modules
# from the lockfile when it is missing or does not match it. Extra arguments go to
# audit.mjs (`--markdown`: the README table on stdout, everything else on stderr).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Node.js and npm from Debian when missing, as e2e/run-browser-test.sh does (as root, or
# with passwordless sudo).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
  fi
  echo "run-audit: apt-get install nodejs npm" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm >&2
fi
# The audit needs global fetch and AbortSignal.timeout (18). playwright-core, in the same
# package.json, asks for 20, but npm only warns about that and the audit never loads it.
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 18 ]; then
  echo "run-audit: Node.js >= 18 is required, found $(node --version)" >&2
  exit 1
fi

binary="${AUTHQL_BIN:-target/debug/authql}"
if [ ! -x "$binary" ]; then
  echo "run-audit: $binary not found; run \`cargo build\` (or \`cargo test\`) first" >&2
  exit 1
fi

# Stale = some package of the lockfile is not installed at its locked version (the
# lockfile changed, or someone ran `npm install` by hand). Optional and dev packages may
# legitimately be absent. Checking what is installed, rather than comparing timestamps,
# does not reinstall after every `git checkout`.
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
        if (locked.optional || locked.dev) continue;
        process.exit(1);
      }
      if (installed.version !== locked.version) process.exit(1);
    }
  ' e2e
}

if [ ! -d e2e/node_modules ] || ! installed_matches_lock; then
  echo "run-audit: installing e2e/node_modules from package-lock.json" >&2
  # npm reports on stderr too, so `run-audit.sh --markdown > table.md` gets only the table.
  (cd e2e && npm ci --no-audit --no-fund) >&2
fi

exec node e2e/audit.mjs "$@"
