#!/usr/bin/env bash
# The one test command: setup, then every suite in scripts/test.d/ in order (generated-code drift,
# Deno, Node, C, shell). Prints each suite's outcome and a closing "N passed, N failed" line of suites.
# Usage: scripts/test.sh [suite-name-substring ...]
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; exit 1; }
export PATH="$PWD/node_modules/.bin:$PATH"
passed=0; failed=0; failed_names=()
for suite in scripts/test.d/*.sh; do
  name=$(basename "$suite" .sh)
  if [ $# -gt 0 ]; then
    match=0; for f in "$@"; do [[ "$name" == *"$f"* ]] && match=1; done
    [ $match = 1 ] || continue
  fi
  echo "=== suite $name"
  start=$(date +%s)
  if bash "$suite"; then
    passed=$((passed+1)); echo "=== suite $name: ok ($(( $(date +%s) - start ))s)"
  else
    failed=$((failed+1)); failed_names+=("$name"); echo "=== suite $name: FAILED ($(( $(date +%s) - start ))s)"
  fi
done
[ $failed -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
