#!/usr/bin/env bash
# Runs the client examples (examples/clients: Apollo Client 4 and urql, each with
# graphql-ws, in Node.js) against a real authql. One command, from any directory:
#
#   bash examples/clients/run.sh
#
# $AUTHQL_BIN names the server binary (default: target/release/authql of this checkout;
# nothing is built here). Installs Node.js and npm when missing (e2e/lib.sh) and
# examples/clients/node_modules with `npm ci` when missing or not what package-lock.json
# says. Starts authql on a fresh SQLite file in a temp folder with 3-second access tokens,
# creates the admin `root` with the CLI, runs `npm test` (typecheck, then both programs)
# with AUTHQL_URL set, and stops the server on exit. CLIENTS_VERBOSE=1 shows the server's
# log at the end; it is shown anyway when something fails.
set -euo pipefail

started=$SECONDS
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../../e2e/lib.sh"

AUTHQL_BIN="${AUTHQL_BIN:-$here/../../target/release/authql}"
if [ ! -x "$AUTHQL_BIN" ]; then
  echo "clients: no authql binary at $AUTHQL_BIN (build it with 'cargo build --release', or set AUTHQL_BIN)" >&2
  exit 1
fi
AUTHQL_BIN="$(cd "$(dirname "$AUTHQL_BIN")" && pwd)/$(basename "$AUTHQL_BIN")"

ensure_node
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "clients: Node.js >= 20 is required, found $(node --version)" >&2
  exit 1
fi

ensure_node_modules "$here"

tmp="$(mktemp -d)"
server_pid=""
show_log() {
  echo "---- authql log ($tmp/server.log)" >&2
  tail -n 60 "$tmp/server.log" >&2 || true
}
cleanup() {
  local status=$?
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] || [ -n "${CLIENTS_VERBOSE:-}" ]; then show_log; fi
  rm -rf "$tmp"
  echo "clients: took $((SECONDS - started)) s" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export DATABASE_URL="sqlite://$tmp/clients.db?mode=rwc"
export JWT_SECRET_KEY="t8Kq3vXz9LmR2wPj6YbN4cHs7DfG1aUe5TiWo0Zn" # a test value, 40 characters
export JWT_ACCESS_TOKEN_EXPIRES=3s
export RUST_LOG="warn,authql=info"

LISTEN_ADDR=127.0.0.1:0 "$AUTHQL_BIN" serve >"$tmp/server.log" 2>&1 &
server_pid=$!

# The bound address, from the line `… listening on http://ADDR`.
addr=""
for _ in $(seq 1 150); do
  addr="$(sed -n 's|.*listening on http://\([0-9.:]*\).*|\1|p' "$tmp/server.log" | head -n1)"
  [ -n "$addr" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "FAIL: authql exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "FAIL: authql did not log 'listening on http://…' within 15 s" >&2
  exit 1
fi

# Items need a store and stores need an admin: `root`, made with the CLI on the same database.
AUTHQL_ADMIN_PASSWORD="root-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$AUTHQL_ADMIN_PASSWORD" | "$AUTHQL_BIN" create-user --username root --admin >&2

echo "clients: authql $("$AUTHQL_BIN" --version 2>/dev/null || echo '') at http://$addr, node $(node --version)" >&2
cd "$here"
AUTHQL_URL="http://$addr" AUTHQL_ADMIN_USERNAME=root AUTHQL_ADMIN_PASSWORD="$AUTHQL_ADMIN_PASSWORD" npm test
