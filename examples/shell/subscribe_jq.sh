#!/usr/bin/env bash
# Subscribe with portctl and pipe the events through jq: prints the frame number of the next
# COUNT vsync events, one per line.
# Usage: examples/shell/subscribe_jq.sh SOCKET [COUNT]
set -euo pipefail
source "$(dirname "$0")/_portctl.sh"
portctl "${1:?usage: subscribe_jq.sh SOCKET [COUNT]}" subscribe events=vsync --count "${2:-3}" | jq .frame
