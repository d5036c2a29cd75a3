#!/usr/bin/env bash
# C SDK: build libcopperline-ports, run its tests (normal, static, valgrind), the C++ header check
# and the install test (make install + examples built with pkg-config and run); then replay the
# golden wire cases (tests/wire/echo.cases) with the C client against the TypeScript echo service
# (tests/c_wire/replay.c; plain, then under valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in cc g++ make pkg-config valgrind; do
  command -v "$tool" >/dev/null || { echo "40-c: missing $tool (run scripts/setup.sh)" >&2; exit 1; }
done
pkg-config --exists jansson || { echo "40-c: jansson headers missing (run scripts/setup.sh)" >&2; exit 1; }
make -C sdk/c -s all
make -C sdk/c test
make -C sdk/c -s examples bench

# ---- golden wire cases with the C client ----
deno=node_modules/.bin/deno
[ -x "$deno" ] || deno=$(command -v deno) || { echo "40-c: deno missing (run scripts/setup.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
echo_pid=""
cleanup() {
  if [ -n "$echo_pid" ]; then kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "build: tests/c_wire/replay.c"
cc -std=c11 -Wall -Wextra -Werror -O1 -g -D_GNU_SOURCE -Isdk/c/include $(pkg-config --cflags jansson) \
  tests/c_wire/replay.c -Lsdk/c/build -Wl,-rpath,"$PWD/sdk/c/build" -lcopperline-ports \
  $(pkg-config --libs jansson) -o "$tmp/replay"

"$deno" run -A tests/echo_main.ts "$tmp/echo.sock" >"$tmp/echo.out" 2>"$tmp/echo.err" &
echo_pid=$!
for _ in $(seq 1 600); do
  grep -qx ready "$tmp/echo.out" && break
  kill -0 "$echo_pid" 2>/dev/null || break
  sleep 0.05
done
grep -qx ready "$tmp/echo.out" || { echo "40-c: the echo service did not start" >&2; cat "$tmp/echo.err" >&2; exit 1; }

echo "replay: tests/wire/echo.cases (C client)"
"$tmp/replay" "$tmp/echo.sock" tests/wire/echo.cases
echo "replay: tests/wire/echo.cases (C client, valgrind)"
valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=1 \
  "$tmp/replay" "$tmp/echo.sock" tests/wire/echo.cases | grep -v '^ok ' # failures and the summary
