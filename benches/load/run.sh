#!/usr/bin/env bash
# The load harness (benches/load/harness.mjs): authql against the stack's limit, side by
# side, servers on CPU 0 and wrk on CPU 1. Installs wrk and Node.js when missing (as
# root, or with passwordless sudo), builds the release binaries, prints the table that
# docs/benchmarks.md records. SECONDS_PER_RUN (10) and ROUNDS (2) tune it.
#
#   bash benches/load/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$root/e2e/lib.sh"
command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v taskset >/dev/null 2>&1 || apt_install util-linux
ensure_node
echo "load: cargo build --release --bin authql --example limit" >&2
(cd "$root" && cargo build --release --bin authql --example limit) >&2
exec node "$here/harness.mjs" "$@"
