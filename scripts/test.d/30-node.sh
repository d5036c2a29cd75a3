#!/usr/bin/env bash
# Node suite, under real Node 20 (not Deno's Node compatibility):
# 1. transport tests: compile sdk/ts (core, generated clients, Node platform) with
#    tsconfig.node.json into build/node/ and run every compiled *.test.js;
# 2. the npm package: build @copperline/ports into dist/npm (npm/build.mjs), prepare the fixtures
#    (tests/node/prepare.mjs: echo generated with --runtime @copperline/ports, compiled against
#    the package), then tests/node/*.spec.mjs: Node client ↔ Deno- and Node-served echo, Deno
#    client → Node-served echo, bad input and FD leak counts, golden wire cases replayed by Node,
#    and the package test (npm pack → install into a scratch project → .mjs and tsc by name).
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf build/node
node_modules/.bin/tsc -p tsconfig.node.json
mapfile -t tests < <(find build/node -name '*.test.js' | sort)
if [ ${#tests[@]} -eq 0 ]; then echo "no Node tests found under build/node" >&2; exit 1; fi
node --test --test-reporter=spec "${tests[@]}"

node npm/build.mjs
node tests/node/prepare.mjs
mapfile -t specs < <(find tests/node -maxdepth 1 -name '*.spec.mjs' | sort)
if [ ${#specs[@]} -lt 4 ]; then echo "Node package specs missing under tests/node" >&2; exit 1; fi
node --test --test-reporter=spec "${specs[@]}"
