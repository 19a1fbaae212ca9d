#!/usr/bin/env bash
# The browser tests in Debian's headless Chromium: GraphiQL (e2e/graphiql.mjs) and cookie
# mode across sites (e2e/cross-site-cookies.mjs).
#
# Installs what it needs when missing: Debian's `chromium` (when /usr/bin/chromium is
# absent and $CHROMIUM names no browser), Node.js and npm, and e2e/node_modules (npm ci).
# Builds target/debug/authql unless $AUTHQL_BIN names the binary to test. Works from any
# directory, as root without a terminal (CI) or with sudo.
#
#   bash e2e/run-browser-test.sh
set -euo pipefail

e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$e2e/lib.sh"

if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
browser="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$browser" ]; then
  echo "FAIL: no browser at $browser" >&2
  exit 1
fi
ensure_node
ensure_node_modules
ensure_debug_binary

echo "== GraphiQL in $("$browser" --version 2>/dev/null | head -n1)"
CHROMIUM="$browser" node "$e2e/graphiql.mjs"
echo "== cookie mode across sites"
CHROMIUM="$browser" node "$e2e/cross-site-cookies.mjs"
