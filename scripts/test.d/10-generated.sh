#!/usr/bin/env bash
# Generated code must match the schemas (drift check), and the generated TypeScript must type-check.
set -euo pipefail
cd "$(dirname "$0")/../.."
node_modules/.bin/deno task --quiet gen:check
node_modules/.bin/deno check --quiet sdk/ts/mod.ts sdk/ts/services/*.ts codegen/cli.ts
# The test schemas' generated output is a golden file set.
node_modules/.bin/deno run -A codegen/cli.ts generate --check --schemas tests/schemas --out-ts tests/golden/ts --out-c tests/golden/c --out-docs tests/golden/docs
# Lint every TypeScript source (generated files are excluded in deno.json).
node_modules/.bin/deno lint --quiet
