#!/usr/bin/env bash
# Ping a service with portctl: prints {"name":…,"version":…,"protocol":0}.
# Usage: examples/shell/ping.sh SOCKET|@name|service
set -euo pipefail
source "$(dirname "$0")/_portctl.sh"
portctl "${1:?usage: ping.sh SOCKET}" ping
