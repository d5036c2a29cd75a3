# Sourced by the examples: defines `portctl` (the installed binary if there is one, else the
# repository's tools/portctl.ts through the pinned Deno) and `socat_address` (socat's name for a
# socket path or an abstract @name).
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! command -v portctl >/dev/null 2>&1; then
  portctl() { "$_repo/node_modules/.bin/deno" run -A --no-check "$_repo/tools/portctl.ts" "$@"; }
fi
socat_address() {
  case "$1" in
    @*) echo "ABSTRACT-CONNECT:${1#@}" ;;
    *) echo "UNIX-CONNECT:$1" ;;
  esac
}
