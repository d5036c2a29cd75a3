#!/usr/bin/env bash
# A subscription with plain socat and jq, no SDK: send subscribe, keep the connection open, print
# the next COUNT vsync events as {frame, usec}. shut-none keeps socat from half-closing the socket
# when echo ends (a half-close ends the client's subscriptions: PROTOCOL.md §2); -t 5 bounds the
# wait. jq stops after COUNT events and socat then ends on the closed pipe (so no pipefail here:
# socat's SIGPIPE is the normal way out; jq -e makes the script fail when no event came, e.g.
# when socat could not connect).
# Usage: examples/shell/socat_subscribe.sh SOCKET|@name [COUNT]
set -eu
source "$(dirname "$0")/_portctl.sh"
addr="$(socat_address "${1:?usage: socat_subscribe.sh SOCKET [COUNT]}")"
count="${2:-3}"
echo '{"id":1,"cmd":"subscribe","args":{"events":["vsync"]}}' |
  socat -t 5 - "$addr,shut-none" 2> >(grep -v "Broken pipe" >&2) |
  jq -cen --argjson n "$count" 'limit($n; inputs | select(.event == "vsync") | {frame, usec})'
