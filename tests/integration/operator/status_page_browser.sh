#!/usr/bin/env bash
# Runs status_page_browser.mjs with Debian's Chromium and playwright-core/axe-core from the npm
# cache (scripts/lib/browser-tools.sh installs whichever is missing, once).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../../scripts/lib/browser-tools.sh"
ensure_browser_tools
NODE_PATH="$RINGLB_NODE_PATH" exec node "$here/status_page_browser.mjs"
