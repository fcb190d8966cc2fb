#!/usr/bin/env bash
# `npm start`: dependencies, local RabbitMQ + PostgreSQL, build, migrate, then gateway + worker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

check_node
ensure_deps
bash scripts/services.sh up

echo "== build"
npm run build --silent

echo "== migrate"
node dist/cli.js migrate

# The dashboard's rate charts come from task events, which a worker sends only when asked
# (Celery's -E); the local demo asks.
export WORKER_TASK_EVENTS="${WORKER_TASK_EVENTS:-true}"

# exec: launch.mjs becomes this process, so signals from npm / the terminal reach it directly.
exec node scripts/launch.mjs
