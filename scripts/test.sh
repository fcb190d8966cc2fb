#!/usr/bin/env bash
# The test entries, by cost (the first argument picks one; `npm test` is `all`):
#   bash scripts/test.sh unit          npm run test:unit         build + unit tests: no services, no root
#   bash scripts/test.sh integration   npm run test:integration  build + integration tests against the
#                                      services as they are (never installs or starts them)
#   bash scripts/test.sh chaos         npm run test:chaos        build + the chaos suite (restarts the
#                                      local RabbitMQ and PostgreSQL through scripts/services.sh)
#   bash scripts/test.sh [all]         npm test                  from a fresh machine: dependencies, local
#                                      RabbitMQ + PostgreSQL (installed when root), chromium, Celery,
#                                      build, lint, then every suite (what .ci/run calls)
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

mode=all
case "${1:-}" in
  unit | integration | chaos | all)
    mode=$1
    shift
    ;;
esac

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgres://celerity:celerity@127.0.0.1:5432/celerity_test}"
export TEST_AMQP_URL="${TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"

check_node
ensure_deps

if [[ $mode == all ]]; then
  echo "== services"
  bash scripts/services.sh up

  echo "== browser and promtool"
  bash scripts/ensure-chromium.sh

  echo "== python celery (interoperability tests)"
  bash scripts/ensure-celery.sh
elif [[ $mode != unit ]] && ! bash scripts/services.sh status >/dev/null 2>&1; then
  echo "tests: RabbitMQ or PostgreSQL does not answer on 127.0.0.1 (TEST_AMQP_URL / TEST_DATABASE_URL)." >&2
  echo "tests: start them (bash scripts/services.sh up, as root installs them), or set CELERITY_SKIP_SERVICES=1 with TEST_AMQP_URL and TEST_DATABASE_URL pointing at yours." >&2
  exit 1
fi

echo "== build"
npm run build --silent

if [[ $mode == all ]]; then
  echo "== lint"
  npm run lint --silent
fi

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
  # The entry's share of them: unit needs no service; integration is everything but the chaos
  # and cluster suites (they stop and restart brokers and databases).
  kept=()
  for f in "${files[@]}"; do
    case "$mode:$f" in
      unit:dist/test/unit/* | chaos:dist/test/chaos/* | all:*) kept+=("$f") ;;
      integration:dist/test/chaos/* | integration:dist/test/cluster/* | integration:dist/test/unit/*) ;;
      integration:*) kept+=("$f") ;;
    esac
  done
  files=("${kept[@]}")
fi
if ((${#files[@]} == 0)); then
  echo "tests: no compiled tests found (expected dist/test/**/*.test.js after the build)" >&2
  exit 1
fi

# Both flags exist in Node 20.x; check anyway so an older/odd runtime degrades instead of failing.
runner_flags=(--test)
node_help=$(node --help)
has_concurrency=0
[[ $node_help == *--test-concurrency* ]] && has_concurrency=1
has_timeout=0
[[ $node_help == *--test-timeout* ]] && has_timeout=1

# Three phases: every suite in parallel, then the chaos suite (dist/test/chaos) on its own — it
# stops and restarts RabbitMQ and PostgreSQL, which would break suites running beside it — then
# the cluster suite (dist/test/cluster), which starts its own 3-node RabbitMQ cluster beside the
# system node (scripts/cluster.sh), kills and restarts its nodes, and stops it at the end.
suites=()
chaos=()
cluster=()
for f in "${files[@]}"; do
  if [[ $f == dist/test/chaos/* ]]; then
    chaos+=("$f")
  elif [[ $f == dist/test/cluster/* ]]; then
    cluster+=("$f")
  else
    suites+=("$f")
  fi
done

status=0
if ((${#suites[@]} > 0)); then
  flags=("${runner_flags[@]}")
  ((has_concurrency)) && flags+=(--test-concurrency=2)
  ((has_timeout)) && flags+=(--test-timeout=120000)
  node "${flags[@]}" "${node_args[@]}" "${suites[@]}" || status=$?
fi
if ((${#chaos[@]} > 0)); then
  echo "== chaos (restarts RabbitMQ and PostgreSQL through scripts/services.sh)"
  flags=("${runner_flags[@]}")
  ((has_concurrency)) && flags+=(--test-concurrency=1)
  ((has_timeout)) && flags+=(--test-timeout=900000)
  node "${flags[@]}" "${node_args[@]}" "${chaos[@]}" || status=$?
  # Whatever the chaos suite did, leave the services running.
  bash scripts/services.sh up >/dev/null || status=$?
fi
if ((${#cluster[@]} > 0)); then
  echo "== cluster (a 3-node RabbitMQ cluster of its own through scripts/cluster.sh)"
  flags=("${runner_flags[@]}")
  ((has_concurrency)) && flags+=(--test-concurrency=1)
  ((has_timeout)) && flags+=(--test-timeout=900000)
  cluster_started=$SECONDS
  node "${flags[@]}" "${node_args[@]}" "${cluster[@]}" || status=$?
  # Whatever the suite did, stop the nodes it started (never the system node).
  bash scripts/cluster.sh down >/dev/null 2>&1 || status=$?
  echo "== cluster phase took $((SECONDS - cluster_started)) s"
fi
exit "$status"
