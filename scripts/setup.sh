#!/usr/bin/env bash
# Idempotent setup for a fresh machine of this kind (Node 20 + npm, gcc/make, apt as root).
# Installs the Debian packages the C library and shell tests need, then the npm pins (Deno included).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in libjansson-dev pkg-config socat jq valgrind; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# npm ci only when the lock file changed since the last install (keeps the step cheap).
stamp=node_modules/.setup-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund >&2
  cp package-lock.json "$stamp"
fi
