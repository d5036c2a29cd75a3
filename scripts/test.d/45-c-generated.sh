#!/usr/bin/env bash
# Generated C bindings (sdk/c/services): every generated source compiles as C11 and every header as
# C11 and C++17 with -Werror; then tests/c_generated/copperd_typed.c runs the generated copperd
# binding against a live simulated copperd (under valgrind when it is installed).
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

CFLAGS=(-std=c11 -Wall -Wextra -Werror -Isdk/c/include -Isdk/c/services)
JANSSON_CFLAGS=$(pkg-config --cflags jansson)
JANSSON_LIBS=$(pkg-config --libs jansson)

echo "compile: sdk/c/services/*.c (C11), *.h (C11, C++17)"
pids=()
for src in sdk/c/services/*.c; do
  gcc "${CFLAGS[@]}" $JANSSON_CFLAGS -c "$src" -o "$tmp/$(basename "$src" .c).o" & pids+=($!)
done
for hdr in sdk/c/services/*.h; do
  gcc -std=c11 -Wall -Wextra -Werror -Isdk/c/include -fsyntax-only -x c "$hdr" & pids+=($!)
  g++ -std=c++17 -Wall -Wextra -Werror -Isdk/c/include -fsyntax-only -x c++ "$hdr" & pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status -eq 0 ] || { echo "generated C does not compile" >&2; exit 1; }

if [ ! -f sdk/ts/sim/cli.ts ]; then
  echo "skip: live copperd test (sdk/ts/sim/cli.ts not present)"
  exit 0
fi

echo "build: tests/c_generated/{copperd_typed,fd_typed}"
libobjs=()
for src in sdk/c/src/*.c; do
  o="$tmp/lib_$(basename "$src" .c).o"
  gcc -std=c11 -O1 -g -D_GNU_SOURCE -Isdk/c/include $JANSSON_CFLAGS -c "$src" -o "$o"
  libobjs+=("$o")
done
gcc "${CFLAGS[@]}" -g $JANSSON_CFLAGS tests/c_generated/copperd_typed.c sdk/c/services/copperd.c \
  "${libobjs[@]}" $JANSSON_LIBS -o "$tmp/copperd_typed"
gcc "${CFLAGS[@]}" -g $JANSSON_CFLAGS tests/c_generated/fd_typed.c sdk/c/services/compositord.c \
  sdk/c/services/blitterd.c "${libobjs[@]}" $JANSSON_LIBS -o "$tmp/fd_typed"

run="$tmp/run"
deno=node_modules/.bin/deno
command -v deno >/dev/null 2>&1 && [ ! -x "$deno" ] && deno=deno
"$deno" run -A sdk/ts/sim/cli.ts all --dir "$run" --quiet &
sim_pid=$!
for s in copperd compositord blitterd; do
  for _ in $(seq 1 200); do [ -S "$run/$s.sock" ] && break; sleep 0.05; done
  [ -S "$run/$s.sock" ] || { echo "simulated $s did not start" >&2; exit 1; }
done

check=()
if command -v valgrind >/dev/null 2>&1; then
  check=(valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=99)
fi
"${check[@]}" "$tmp/copperd_typed" "$run/copperd.sock"
"${check[@]}" "$tmp/fd_typed" "$run/compositord.sock" "$run/blitterd.sock"
