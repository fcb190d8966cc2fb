#!/bin/sh
# The image's entry point: the first argument picks the process, the rest are its flags.
#   gateway                          the HTTP gateway (settings from the environment)
#   worker --queues a,b [-c N] ...   a worker; flags as `npm run worker -- --help` lists them
#   migrate                          apply database migrations, then exit
#   keys ... | dead-letters ...      the operator commands
# Anything else runs as given (e.g. `sh`). These lines are the only place the deploy files name
# Celerity's entry points; compose.yaml and the Kubernetes manifests pass only the arguments.
set -eu
role="${1:-gateway}"
[ "$#" -gt 0 ] && shift
case "$role" in
  gateway) exec node dist/gateway/src/main.js "$@" ;;
  worker) exec node dist/worker/src/main.js worker "$@" ;;
  migrate) exec node dist/worker/src/main.js migrate "$@" ;;
  keys | dead-letters) exec node dist/worker/src/main.js "$role" "$@" ;;
  *) exec "$role" "$@" ;;
esac
