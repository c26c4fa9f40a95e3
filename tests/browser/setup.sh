#!/usr/bin/env bash
# Installs what the browser test (tests/report.rs, check.mjs) needs, once, and does nothing
# when it is already there:
#   - Debian's chromium (/usr/bin/chromium, or $SIMDEX_CHROMIUM) and a CJK font
#     (fonts-wqy-microhei, so the Chinese text of the report and its screenshot shows glyphs)
#     with apt-get (as root, or through sudo -n);
#   - playwright-core, pinned in package-lock.json, with npm ci (drives the installed
#     chromium; it downloads no browser of its own).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${SIMDEX_CHROMIUM:-/usr/bin/chromium}"

have_font() { command -v fc-list >/dev/null && fc-list | grep -qiE 'WenQuanYi|Noto Sans CJK|Noto Serif CJK'; }
if [ ! -x "$chromium" ] || ! have_font; then
  if [ "$(id -u)" = 0 ]; then sudo=(); else sudo=(sudo -n); fi
  export DEBIAN_FRONTEND=noninteractive
  pkgs=(chromium fonts-wqy-microhei)
  if ! "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
fi
[ -x "$chromium" ] || { echo "no chromium at $chromium after apt-get install chromium" >&2; exit 1; }

cd "$here"
if [ ! -f node_modules/playwright-core/package.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "browser test ready: $("$chromium" --version 2>/dev/null | head -n1), playwright-core $(node -p 'require("./node_modules/playwright-core/package.json").version')"
