#!/usr/bin/env bash
# Makes sure the tools `npm test` needs beyond Node are installed: Debian's `chromium` (the
# dashboard test drives it through playwright-core) and `prometheus`, which brings both
# `promtool` (checks deploy/prometheus and runs the alert rules' unit tests) and the
# `prometheus` server (test/integration/prometheus.test.ts runs the rules on a real one, on a
# free loopback port, for a few seconds). Installs them with apt when missing and running as
# root; otherwise says exactly what to run. Playwright's own browser downloads are never used.
set -euo pipefail

missing=()
command -v /usr/bin/chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
if ! command -v "${PROMTOOL:-promtool}" >/dev/null 2>&1 || ! command -v "${PROMETHEUS:-prometheus}" >/dev/null 2>&1; then
  missing+=(prometheus)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${missing[*]} (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The package starts a Prometheus on :9090 for the whole machine; the tests start their own.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
elif command -v apt-get >/dev/null 2>&1; then
  echo "tests need Debian packages that are not installed: ${missing[*]}" >&2
  echo "install them as root, then run the tests again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    echo "  sudo systemctl disable --now prometheus   # optional: the tests start their own" >&2
  fi
  exit 1
else
  echo "tests need these tools, which this script installs only with apt (Debian): ${missing[*]}" >&2
  echo "install them with your package manager; for Prometheus, set PROMTOOL and PROMETHEUS to the" >&2
  echo "binaries if they are not on PATH (promtool and prometheus 2.x)." >&2
  exit 1
fi
