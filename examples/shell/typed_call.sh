#!/usr/bin/env bash
# Typed calls with portctl against copperd: load a program (arguments checked against the schema
# from describe), start it, read its status. Then show how an error response looks to a script:
# CODE: message on stderr and exit status 1.
# Usage: examples/shell/typed_call.sh SOCKET
set -euo pipefail
source "$(dirname "$0")/_portctl.sh"
sock="${1:?usage: typed_call.sh SOCKET}"

program='{"version":1,"program":[{"label":"top"},{"op":"WAIT","vsync":true},{"op":"IRQ","tag":"tick"},{"op":"JUMP","label":"top"}]}'
id=$(portctl "$sock" load program:="$program" | jq -r .id)
portctl "$sock" start id="$id"
portctl "$sock" status id="$id"

# An unknown program: the service answers NOT_FOUND; portctl exits 1.
status=0
portctl "$sock" status id=999999 || status=$?
echo "status id=999999 exited with $status" >&2
