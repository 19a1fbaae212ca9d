# Shared by the e2e/run-*.sh scripts (sourced, not run): Node.js and e2e/node_modules,
# installed on a fresh Debian machine when missing, as root (CI) or with passwordless sudo.

# apt-get install "$@", quietly, reporting on stderr.
apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
  fi
  echo "e2e: apt-get install $*" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}

# Node.js >= 18 (global fetch and AbortSignal.timeout) and npm.
ensure_node() {
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if [ "$major" -lt 18 ]; then
    echo "e2e: Node.js >= 18 is required, found $(node --version)" >&2
    exit 1
  fi
}

# DIR/node_modules (default: e2e/) as DIR's lockfile says. Stale = some locked package is
# not installed at its locked version (checking what is installed, rather than
# timestamps, does not reinstall after every `git checkout`). Optional packages may
# legitimately be absent.
ensure_node_modules() {
  local e2e
  e2e="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
  if [ -d "$e2e/node_modules" ] && node -e '
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
  ' "$e2e"; then
    return
  fi
  echo "e2e: installing $e2e/node_modules from package-lock.json" >&2
  (cd "$e2e" && npm ci --no-audit --no-fund --include=dev) >&2
}

# $AUTHQL_BIN, or target/debug/authql built when missing.
ensure_debug_binary() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  if [ -z "${AUTHQL_BIN:-}" ]; then
    echo "e2e: cargo build --bin authql" >&2
    (cd "$root" && cargo build --bin authql) >&2
    AUTHQL_BIN="$root/target/debug/authql"
  fi
  if [ ! -x "$AUTHQL_BIN" ]; then
    echo "e2e: $AUTHQL_BIN is not an executable" >&2
    exit 1
  fi
  export AUTHQL_BIN
}
