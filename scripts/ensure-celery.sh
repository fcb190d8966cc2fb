#!/usr/bin/env bash
# Makes sure Debian's Python Celery (python3-celery) is importable by /usr/bin/python3: exit 0 if
# it is; install it with apt when running as root; otherwise print what to run and exit 1.
set -euo pipefail
if /usr/bin/python3 -c 'import celery' >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -eq 0 ]]; then
  echo "celery: installing python3-celery with apt-get" >&2
  apt-get install -y python3-celery >&2 || { apt-get update >&2 && apt-get install -y python3-celery >&2; }
  /usr/bin/python3 -c 'import celery'
  exit 0
fi
echo "celery: Python Celery is missing; run: sudo apt-get install -y python3-celery" >&2
exit 1
