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

ensure_node_modules "$web"
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
