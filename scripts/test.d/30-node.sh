#!/usr/bin/env bash
# Node suite: compile sdk/ts (core, generated clients, Node platform) with tsconfig.node.json into
# build/node/, then run every compiled *.test.js with Node's test runner (real sockets, temp dirs).
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf build/node
node_modules/.bin/tsc -p tsconfig.node.json
mapfile -t tests < <(find build/node -name '*.test.js' | sort)
if [ ${#tests[@]} -eq 0 ]; then echo "no Node tests found under build/node" >&2; exit 1; fi
node --test --test-reporter=spec "${tests[@]}"
