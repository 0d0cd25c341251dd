#!/usr/bin/env bash
# Installs the optional system packages paperpress is better with, where apt-get can:
#   a CJK font (Chinese chart labels) and Chromium (browser tests).
# Elsewhere it says what is missing and carries on: nothing here is required.
set -u
missing=()
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-wqy-microhei)
if [ "${PAPERPRESS_BROWSER_TESTS:-1}" != 0 ] && ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "system-deps: installing ${missing[*]} with apt-get"
  if apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    exit 0
  fi
  echo "system-deps: apt-get could not install ${missing[*]}; carrying on without"
else
  echo "system-deps: not installed (no apt-get or not root): ${missing[*]}"
fi
echo "system-deps: without a CJK font Chinese chart labels show as boxes; without chromium the browser tests are skipped"
exit 0
