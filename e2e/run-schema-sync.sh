#!/usr/bin/env bash
# schema.graphql against what introspection says, compared by graphql-js
# (findBreakingChanges and findDangerousChanges, both directions), on
# target/debug/authql (built when needed) or $AUTHQL_BIN. See lib.sh for what it installs.
set -euo pipefail
e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$e2e/lib.sh"
ensure_node
ensure_node_modules
ensure_debug_binary
exec node "$e2e/schema-sync.mjs"
