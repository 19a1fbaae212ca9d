#!/usr/bin/env bash
# GraphQL-over-HTTP compliance audit (graphql-http) of target/debug/authql (built when
# needed), or of $AUTHQL_BIN. Works from any directory on a fresh Debian machine (see
# lib.sh). Extra arguments go to audit.mjs (`--markdown`: the docs/api.md table on stdout,
# everything else on stderr).
set -euo pipefail
e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$e2e/lib.sh"
ensure_node
ensure_node_modules
ensure_debug_binary
exec node "$e2e/audit.mjs" "$@"
