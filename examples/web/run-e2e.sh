#!/usr/bin/env bash
# End-to-end test of the example app (examples/web) in Debian's headless Chromium, both
# modes (bearer tokens in memory, cookie mode). One command, from any directory:
#
#   bash examples/web/run-e2e.sh
#
# Installs what it needs when missing: Debian's `chromium` (unless $CHROMIUM names a
# browser), Node.js and npm, examples/web/node_modules (npm ci, when missing or not what
# package-lock.json says). Builds target/debug/authql unless $AUTHQL_BIN names the binary.
# Then: codegen:check, the production build, and e2e/run.mjs (which starts and stops the
# authql servers and `vite preview`s it needs). E2E_VERBOSE=1 shows the servers' logs.
set -euo pipefail

started=$SECONDS
web="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$web/../../e2e/lib.sh"

if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "FAIL: no browser at $CHROMIUM" >&2
  exit 1
fi
ensure_node

# node_modules as package-lock.json says (the same check as e2e/lib.sh's, for this folder).
if [ ! -d "$web/node_modules" ] || ! node -e '
  const fs = require("fs"), path = require("path"), dir = process.argv[1];
  const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
  for (const [where, locked] of Object.entries(lock.packages ?? {})) {
    if (where === "" || locked.link) continue;
    let installed;
    try { installed = JSON.parse(fs.readFileSync(path.join(dir, where, "package.json"), "utf8")); }
    catch { if (locked.optional) continue; process.exit(1); }
    if (installed.version !== locked.version) process.exit(1);
  }' "$web"; then
  echo "web-e2e: npm ci in examples/web" >&2
  (cd "$web" && npm ci --no-audit --no-fund --include=dev) >&2
fi
ensure_debug_binary

cd "$web"
echo "== codegen:check"
npm run --silent codegen:check
echo "== build"
npm run --silent build
echo "== e2e in $("$CHROMIUM" --version 2>/dev/null | head -n1)"
status=0
node e2e/run.mjs || status=$?
echo "web-e2e: took $((SECONDS - started)) s"
exit "$status"
