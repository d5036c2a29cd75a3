#!/usr/bin/env bash
# Every Deno test (*_test.ts beside the code, cross-language tests in tests/), doc examples included.
set -euo pipefail
cd "$(dirname "$0")/../.."
node_modules/.bin/deno test -A --quiet --doc
