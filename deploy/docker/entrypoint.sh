#!/bin/sh
# The image's entry point: the first argument picks the process, the rest are its flags.
#   gateway                          the HTTP gateway (settings from the environment)
#   worker --queues a,b [-c N] ...   a worker; flags as `celerity worker --help` lists them
#   migrate                          apply database migrations, then exit
#   keys ... | dead-letters ...      the operator commands
# Gateway and worker run the app module CELERITY_APP (the image's default: the demo app).
# Anything else runs as given (e.g. `sh`). These lines are the only place the deploy files name
# Celerity's entry points; compose.yaml and the Kubernetes manifests pass only the arguments.
set -eu
role="${1:-gateway}"
[ "$#" -gt 0 ] && shift
case "$role" in
  gateway | worker | migrate | keys | dead-letters) exec node dist/cli.js "$role" "$@" ;;
  *) exec "$role" "$@" ;;
esac
