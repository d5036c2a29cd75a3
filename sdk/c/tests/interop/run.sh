#!/usr/bin/env bash
# Opt-in interop check (`make -C sdk/c interop`): the C client against the TypeScript PortServer.
set -euo pipefail
cd "$(dirname "$0")/../.."
deno=${DENO:-../../node_modules/.bin/deno}
[ -x "$deno" ] || deno=$(command -v deno) || { echo "interop: deno not found" >&2; exit 1; }
address="@clp-interop/$$"
"$deno" run -A tests/interop/serve.ts "$address" > build/interop-server.log 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening build/interop-server.log && break; sleep 0.1; done
build/interop_client "$address"
