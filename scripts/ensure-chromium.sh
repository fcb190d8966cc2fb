#!/usr/bin/env bash
# Makes sure the tools `npm test` needs beyond Node are installed: Debian's `chromium` (the
# dashboard test drives it through playwright-core) and `prometheus` (for `promtool`, which
# checks deploy/prometheus). Installs them with apt when missing and running as root; otherwise
# says exactly what to run. Playwright's own browser downloads are never used.
set -euo pipefail

missing=()
command -v /usr/bin/chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${missing[*]} (Debian packages)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The prometheus package starts a server; the tests only need promtool.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
else
  echo "tests need Debian packages that are not installed: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
