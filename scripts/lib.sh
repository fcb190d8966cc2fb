# shellcheck shell=bash
# Helpers shared by scripts/start.sh and scripts/test.sh (source it; it sets no shell options).
#   check_node    Node.js >= 20 and npm are on PATH
#   ensure_deps   npm ci when node_modules is missing or older than package-lock.json

CELERITY_MIN_NODE_MAJOR=20

check_node() {
  if ! command -v node >/dev/null 2>&1; then
    echo "celerity: Node.js >= $CELERITY_MIN_NODE_MAJOR is required, but 'node' is not on PATH." >&2
    echo "celerity: install it from https://nodejs.org/ (or via nvm / your package manager) and retry." >&2
    return 1
  fi
  local version major
  version=$(node -p 'process.versions.node')
  major=${version%%.*}
  if ((major < CELERITY_MIN_NODE_MAJOR)); then
    echo "celerity: Node.js >= $CELERITY_MIN_NODE_MAJOR is required, but $(command -v node) is v$version." >&2
    echo "celerity: upgrade Node (e.g. 'nvm install $CELERITY_MIN_NODE_MAJOR') and retry." >&2
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "celerity: 'npm' is not on PATH (it normally ships with Node.js)." >&2
    return 1
  fi
}

# Run from the repository root. npm writes node_modules/.package-lock.json on every install, so a
# package-lock.json newer than it means the lock file changed (git pull, branch switch) since.
ensure_deps() {
  if [[ -d node_modules && -f node_modules/.package-lock.json &&
    ! package-lock.json -nt node_modules/.package-lock.json ]]; then
    return 0
  fi
  if [[ -f package-lock.json ]]; then
    echo "== npm ci"
    npm ci --no-audit --no-fund
  else
    echo "== npm install (no package-lock.json)"
    npm install --no-audit --no-fund
  fi
}
