#!/usr/bin/env bash
# Generated C bindings (sdk/c/services, tests/golden/c): every generated source compiles as C11 and
# every header as C11 and C++17 with -Werror; a generated source refuses to compile against a
# cl_ports_gen.h of another CLP_GEN_API_VERSION; then tests/c_generated/{copperd_typed,fd_typed}.c
# run the generated bindings against live simulated services (under valgrind when it is installed):
# compiled from source next to the library sources, and copperd_typed once more linked to the
# bundled bindings inside libcopperline-ports.so.
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

echo "compile: sdk/c/services/*.c, tests/golden/c/*.c (C11), *.h (C11, C++17)"
pids=()
for src in sdk/c/services/*.c tests/golden/c/*.c; do
  gcc "${CFLAGS[@]}" -I"$(dirname "$src")" $JANSSON_CFLAGS -c "$src" -o "$tmp/$(basename "$src" .c).o" & pids+=($!)
done
for hdr in sdk/c/services/*.h tests/golden/c/*.h; do
  gcc -std=c11 -Wall -Wextra -Werror -Isdk/c/include -fsyntax-only -x c "$hdr" & pids+=($!)
  g++ -std=c++17 -Wall -Wextra -Werror -Isdk/c/include -fsyntax-only -x c++ "$hdr" & pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status -eq 0 ] || { echo "generated C does not compile" >&2; exit 1; }

echo "compile: a generated source against a cl_ports_gen.h of another API version must fail"
mkdir -p "$tmp/stale"
printf '#include "%s"\n#undef CLP_GEN_API_VERSION\n#define CLP_GEN_API_VERSION 9999\n' \
  "$PWD/sdk/c/include/cl_ports_gen.h" >"$tmp/stale/cl_ports_gen.h"
if gcc "${CFLAGS[@]}" -iquote "$tmp/stale" $JANSSON_CFLAGS -c sdk/c/services/copperd.c -o "$tmp/stale/copperd.o" \
     2>"$tmp/stale/err"; then
  echo "copperd.c compiled against cl_ports_gen.h API version 9999" >&2; exit 1
fi
grep -q '#error "copperd.c was generated for cl_ports_gen.h API version' "$tmp/stale/err" \
  || { echo "stale-version failure without the #error message:" >&2; cat "$tmp/stale/err" >&2; exit 1; }

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
# The same test against the bindings bundled in the shared library (built out of tree).
make -C sdk/c -s all B="$tmp/libbuild" >/dev/null
gcc "${CFLAGS[@]}" -g $JANSSON_CFLAGS tests/c_generated/copperd_typed.c -L"$tmp/libbuild" \
  -Wl,-rpath,"$tmp/libbuild" -lcopperline-ports $JANSSON_LIBS -o "$tmp/copperd_typed_lib"
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
"${check[@]}" "$tmp/copperd_typed_lib" "$run/copperd.sock"
"${check[@]}" "$tmp/fd_typed" "$run/compositord.sock" "$run/blitterd.sock"
