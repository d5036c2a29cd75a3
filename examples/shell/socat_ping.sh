#!/usr/bin/env bash
# The same ping with plain socat, no SDK: one JSON line out, one JSON line back (ports v0 answers a
# request without "id" with "id": null).
# Usage: examples/shell/socat_ping.sh SOCKET|@name
set -euo pipefail
source "$(dirname "$0")/_portctl.sh"
echo '{"cmd":"ping"}' | socat -t 2 - "$(socat_address "${1:?usage: socat_ping.sh SOCKET}")" | jq -c .result
