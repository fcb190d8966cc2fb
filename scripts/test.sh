#!/usr/bin/env bash
# `npm test`: dependencies, local RabbitMQ + PostgreSQL, build, lint, then node's test runner on
# the compiled tests in dist/test.
#
# Extra arguments go to `node --test`:
#   npm test -- --test-name-pattern=retry          only matching tests
#   npm test -- dist/test/gateway/api.test.js      only these files (existing paths replace the
#                                                  default list; options are passed through)
# Tests reach the services through TEST_AMQP_URL / TEST_DATABASE_URL (defaults below); set
# CELERITY_SKIP_SERVICES=1 to use servers managed elsewhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://celerity:celerity@127.0.0.1:5432/celerity_test}"
export TEST_AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"

check_node
ensure_deps

echo "== services"
bash scripts/services.sh up

echo "== python celery (interoperability tests)"
bash scripts/ensure-celery.sh

echo "== build"
npm run build --silent

echo "== lint"
npm run lint --silent

echo "== tests"
node_args=()
files=()
for arg in "$@"; do
  if [[ $arg != -* && -e $arg ]]; then
    files+=("$arg")
  else
    node_args+=("$arg")
  fi
done

if ((${#files[@]} == 0)); then
  # tsc never deletes outputs, so a renamed/deleted test would keep running from dist/; only run
  # compiled tests whose TypeScript source still exists.
  while IFS= read -r f; do
    src="${f#dist/}"
    src="${src%.js}"
    if [[ -d test && ! -f "$src.ts" && ! -f "$src.mts" && ! -f "$src.tsx" ]]; then
      echo "tests: skipping stale $f (no ${src}.ts any more)" >&2
      continue
    fi
    files+=("$f")
  done < <(find dist/test -name '*.test.js' 2>/dev/null | sort)
fi
if ((${#files[@]} == 0)); then
  echo "tests: no compiled tests found (expected dist/test/**/*.test.js after the build)" >&2
  exit 1
fi

# Both flags exist in Node 20.x; check anyway so an older/odd runtime degrades instead of failing.
runner_flags=(--test)
node_help=$(node --help)
[[ $node_help == *--test-concurrency* ]] && runner_flags+=(--test-concurrency=2)
[[ $node_help == *--test-timeout* ]] && runner_flags+=(--test-timeout=120000)

# exec: the test runner's exit code is this script's exit code.
exec node "${runner_flags[@]}" "${node_args[@]}" "${files[@]}"
