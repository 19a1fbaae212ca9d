#!/usr/bin/env bash
# The GraphiQL browser test (e2e/graphiql.mjs) in Debian's headless Chromium.
#
# Installs what it needs when missing: Debian's `chromium` (when /usr/bin/chromium is
# absent and $CHROMIUM names no browser), Node.js and npm, and e2e/node_modules (npm ci).
# Builds target/debug/authql unless $AUTHQL_BIN names the binary to test. Works from any
# directory, as root without a terminal (CI) or with sudo.
#
#   bash e2e/run-browser-test.sh
set -euo pipefail

e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$e2e")"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
  fi
  echo "== apt-get install $*"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q "$@"
}

if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi
browser="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$browser" ]; then
  echo "FAIL: no browser at $browser" >&2
  exit 1
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

# npm ci only when node_modules is missing or older than the lock file: it deletes and
# rebuilds node_modules, which another e2e script may be using.
cd "$e2e"
if [ ! -d node_modules/playwright-core ] || [ ! -f node_modules/.package-lock.json ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci (e2e)"
  npm ci --no-audit --no-fund
fi

if [ -z "${AUTHQL_BIN:-}" ]; then
  echo "== cargo build --bin authql"
  (cd "$root" && cargo build --bin authql)
fi

echo "== GraphiQL in $("$browser" --version 2>/dev/null | head -n1)"
CHROMIUM="$browser" node "$e2e/graphiql.mjs"
