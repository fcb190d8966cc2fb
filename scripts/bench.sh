#!/usr/bin/env bash
# `npm run bench [-- --quick] [-- --only=limit,rpc]`: the same set-up as `npm test` (dependencies,
# local RabbitMQ + PostgreSQL, build, migrations), then bench/main.ts. Not part of `npm test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
check_node
ensure_deps
bash scripts/services.sh up
npm run build --silent
exec node dist/bench/main.js "$@"
