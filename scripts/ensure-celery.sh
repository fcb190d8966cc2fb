#!/usr/bin/env bash
# Makes sure Python Celery is importable by the interpreter the interoperability tests and
# benchmarks use: Debian's /usr/bin/python3 with the python3-celery package (Celery 5.2.x).
#   bash scripts/ensure-celery.sh        exit 0 when `import celery` works (installing it with
#                                        apt-get when missing and running as root), else print
#                                        what to run and exit 1
# CELERITY_PYTHON overrides the interpreter (default /usr/bin/python3; the `python3` on PATH may
# be another installation, e.g. pyenv's, without Debian's packages).
set -euo pipefail

PYTHON="${CELERITY_PYTHON:-/usr/bin/python3}"
PACKAGE=python3-celery

log() { echo "celery: $*"; }
err() { echo "celery: $*" >&2; }

have_celery() {
  [[ -x $PYTHON ]] && "$PYTHON" -c 'import celery' >/dev/null 2>&1
}

if have_celery; then
  log "$("$PYTHON" -c 'import celery, kombu; print(f"Celery {celery.__version__}, kombu {kombu.__version__}")') on $PYTHON"
  exit 0
fi

# apt installs for Debian's own interpreter only; another one needs its own Celery.
if [[ $PYTHON == /usr/bin/python3 && $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  log "$PYTHON cannot import celery: installing $PACKAGE with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PACKAGE"
  if have_celery; then
    log "installed: $("$PYTHON" -c 'import celery; print(celery.__version__)')"
    exit 0
  fi
  err "$PACKAGE is installed but $PYTHON still cannot import celery"
  exit 1
fi

err "$PYTHON cannot import celery, which the Celery interoperability tests need."
if [[ $PYTHON == /usr/bin/python3 ]] && command -v apt-get >/dev/null 2>&1; then
  err "run these commands as root (e.g. prefix with sudo), then re-run npm test:"
  err "    apt-get update"
  err "    DEBIAN_FRONTEND=noninteractive apt-get install -y $PACKAGE"
else
  err "install Celery 5 for $PYTHON, or point CELERITY_PYTHON at an interpreter that has it, e.g."
  err "    $PYTHON -m pip install 'celery>=5.2,<6'"
  [[ $PYTHON != /usr/bin/python3 ]] && err "(or unset CELERITY_PYTHON to use Debian's /usr/bin/python3 with apt-get install $PACKAGE)"
fi
exit 1
