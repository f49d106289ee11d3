# The status page's browser test: Debian's Chromium driven by Playwright. Source it; do not run it.
#
#   ensure_browser_tools      installs the Debian package chromium if missing (root), and the npm
#                             packages playwright-core and axe-core into the cache; exports
#                             RINGLB_NODE_PATH (their node_modules folders, ':'-joined) and RINGLB_CHROMIUM.
#
# Playwright's own browser download is never used: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD is set and the
# test launches /usr/bin/chromium. Nothing lands in the clone: each package is installed once into
# ${RINGLB_NPM_CACHE:-~/.cache/ringlb/npm}/<name>-<version>/.

if ! declare -F ensure_packages >/dev/null; then
  source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

RINGLB_BROWSER_PACKAGES=(chromium)
RINGLB_PLAYWRIGHT_VERSION=1.65.2
RINGLB_AXE_CORE_VERSION=4.14.1
RINGLB_NPM_CACHE=${RINGLB_NPM_CACHE:-$HOME/.cache/ringlb/npm}

# _npm_cached NAME VERSION: installs NAME@VERSION once into the cache; prints its node_modules folder.
_npm_cached() {
  local name=$1 version=$2 dir="$RINGLB_NPM_CACHE/$1-$2"
  if [ ! -f "$dir/node_modules/$name/package.json" ]; then
    command -v npm >/dev/null || die "npm is missing (Debian package npm)"
    log "installing $name@$version from npm into $dir"
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$dir.partial" --no-save --no-audit --no-fund \
      --ignore-scripts --silent "$name@$version" >&2 || die "npm install $name@$version failed"
    rm -rf "$dir" && mv "$dir.partial" "$dir"
  fi
  echo "$dir/node_modules"
}

ensure_browser_tools() {
  ensure_packages "${RINGLB_BROWSER_PACKAGES[@]}"
  command -v npm >/dev/null || ensure_packages npm
  local playwright axe
  playwright=$(_npm_cached playwright-core "$RINGLB_PLAYWRIGHT_VERSION") || return 1
  axe=$(_npm_cached axe-core "$RINGLB_AXE_CORE_VERSION") || return 1
  export RINGLB_NODE_PATH="$playwright:$axe"
  export RINGLB_CHROMIUM=/usr/bin/chromium
  export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
}
