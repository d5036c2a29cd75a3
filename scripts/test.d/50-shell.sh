#!/usr/bin/env bash
# Shell suite: the examples in examples/shell/, every example of `portctl --help` and
# tools/README.md, and portctl's error exits, run against simulated services (sdk/ts/sim) on
# temporary sockets. Outputs are checked with jq, exit statuses and stderr lines with bash.
# Prints one line per check and "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DENO="$ROOT/node_modules/.bin/deno"
command -v socat >/dev/null && command -v jq >/dev/null || { echo "50-shell: needs socat and jq (bash scripts/setup.sh)"; exit 1; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

portctl() { "$DENO" run -A --no-check "$ROOT/tools/portctl.ts" "$@"; }
export -f portctl
export DENO ROOT

# serve SERVICE ADDRESS: starts a simulated service and waits until it answers ping.
serve() {
  "$DENO" run -A sdk/ts/sim/cli.ts "$1" --socket "$2" --quiet &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    if portctl "$2" ping --timeout 1 >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "50-shell: $1 did not start on $2"; exit 1
}

COPPERD="$TMP/copperd.sock"
ABSTRACT="@copperline-shell-test-$$"
serve copperd "$COPPERD"
serve copperd "$ABSTRACT"

passed=0; failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() {
  failed=$((failed + 1)); echo "FAIL $1"
  echo "     exit: $CODE"; sed 's/^/     stdout: /' "$TMP/out" | head -20; sed 's/^/     stderr: /' "$TMP/err" | head -10
}

# run CMD...: runs a command, stdout in $TMP/out, stderr in $TMP/err, status in $CODE.
run() { set +e; "$@" >"$TMP/out" 2>"$TMP/err"; CODE=$?; set -e; }

# check NAME EXIT [JQ_FILTER_ON_SLURPED_STDOUT] [STDERR_REGEX]
check() {
  local name=$1 want=$2 filter=${3:-} errre=${4:-}
  local ok=1
  [ "$CODE" = "$want" ] || ok=0
  if [ $ok = 1 ] && [ -n "$filter" ]; then jq -se "$filter" "$TMP/out" >/dev/null 2>&1 || ok=0; fi
  if [ $ok = 1 ] && [ -n "$errre" ]; then grep -Eq "$errre" "$TMP/err" || ok=0; fi
  # A failure is one line on stderr, never a stack trace.
  if [ "$want" != 0 ] && [ "$(wc -l <"$TMP/err")" -gt 1 ]; then ok=0; fi
  if grep -Eq '^\s+at .*(\.ts|\.js):[0-9]+' "$TMP/err"; then ok=0; fi
  if [ $ok = 1 ]; then pass "$name"; else fail "$name"; fi
}

# --- examples/shell ------------------------------------------------------------------------
run examples/shell/ping.sh "$COPPERD"
check "ping.sh" 0 'length == 1 and .[0].name == "copperd" and .[0].protocol == 0'
run examples/shell/ping.sh "$ABSTRACT"
check "ping.sh (abstract @name)" 0 '.[0].name == "copperd"'

run examples/shell/typed_call.sh "$COPPERD"
check "typed_call.sh: load, start, status; error exit shown" 0 \
  'length == 2 and .[0] == {} and .[1].state == "running" and (.[1].id | type) == "number"' \
  'status id=999999 exited with 1'
grep -q '^NOT_FOUND: ' "$TMP/err" && pass "typed_call.sh: NOT_FOUND on stderr" || fail "typed_call.sh: NOT_FOUND on stderr"

run examples/shell/subscribe_jq.sh "$COPPERD" 4
check "subscribe_jq.sh: 4 increasing vsync frames" 0 'length == 4 and (. == sort) and (.[0] | type) == "number"'

run examples/shell/socat_ping.sh "$COPPERD"
check "socat_ping.sh (no SDK)" 0 '.[0] == {"name":"copperd","version":"0.1.0","protocol":0}'
run examples/shell/socat_ping.sh "$ABSTRACT"
check "socat_ping.sh (abstract @name)" 0 '.[0].name == "copperd"'

run examples/shell/socat_subscribe.sh "$COPPERD" 3
check "socat_subscribe.sh: 3 vsync events (no SDK)" 0 'length == 3 and all(.[]; has("frame") and has("usec")) and (map(.frame) == (map(.frame) | sort))'
run examples/shell/socat_subscribe.sh "$ABSTRACT" 2
check "socat_subscribe.sh (abstract @name)" 0 'length == 2'
run examples/shell/socat_subscribe.sh "$TMP/missing.sock" 2
check "socat_subscribe.sh: missing socket fails" 4 'length == 0'

# --- half-close: socat sends its input, shuts down its side, and still gets every answer -----
"$DENO" run -A tests/echo_main.ts "$TMP/echo.sock" >"$TMP/echo.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -qx ready "$TMP/echo.out" 2>/dev/null && break; sleep 0.1; done
run bash -c "printf '%s\n' '{\"id\":1,\"cmd\":\"slow\",\"args\":{\"ms\":300}}' \
  '{\"id\":2,\"cmd\":\"add\",\"args\":{\"a\":1,\"b\":2}}' | socat -t 5 - UNIX-CONNECT:$TMP/echo.sock"
check "socat half-closes at the end of its input: a 300 ms request is still answered" 0 \
  'length == 2 and .[0] == {"ok":true,"id":2,"result":{"sum":3}} and .[1] == {"ok":true,"id":1,"result":{"waited":300}}'

# --- portctl from a shell: forms and exit statuses ----------------------------------------
run portctl "$COPPERD" '{"cmd":"ping"}'
check "raw form: response line" 0 '.[0].ok == true and .[0].id == 1 and .[0].result.name == "copperd"'
run portctl "$COPPERD" '{"cmd":"start","prog":1}'
check "raw form: flat legacy args → BAD_ARG, exit 1" 1 '.[0].ok == false' '^BAD_ARG: .*args'
run portctl "$COPPERD" '{"cmd":"ping"'
check "invalid JSON → exit 2" 2 'length == 0' '^portctl: invalid JSON request'
run portctl "$COPPERD" stauts id=1
check "unknown command → exit 2, did you mean" 2 'length == 0' 'unknown command "stauts".*did you mean "status"'
run portctl "$COPPERD" status idd=1
check "unknown argument → exit 2, did you mean" 2 '' 'unknown argument "idd".*did you mean "id"'
run portctl "$COPPERD" status id
check "bad key=value → exit 2" 2 '' 'expected key=value'
run portctl "$COPPERD" status id=424242
check "error response → exit 1, CODE: message" 1 'length == 0' '^NOT_FOUND: '
run portctl "$TMP/missing.sock" ping
check "missing socket → exit 3" 3 '' 'cannot connect to .*no such socket'
run env -u NOSUCHSVC_SOCKET bash -c 'portctl nosuchsvc ping'
check "unknown service → exit 3" 3 '' 'unknown service "nosuchsvc"'
# A stale socket file (its listener was killed): connecting is refused.
socat UNIX-LISTEN:"$TMP/stale.sock" /dev/null &
stale=$!
for _ in $(seq 1 50); do [ -S "$TMP/stale.sock" ] && break; sleep 0.1; done
kill -9 "$stale"; wait "$stale" 2>/dev/null || true
run portctl "$TMP/stale.sock" ping
check "refused connection → exit 3" 3 '' 'connection refused'
socat UNIX-LISTEN:"$TMP/mute.sock",fork EXEC:'sleep 30' &
PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$TMP/mute.sock" ] && break; sleep 0.1; done
run portctl "$TMP/mute.sock" ping --timeout 300ms
check "no answer → exit 4" 4 '' '^TIMEOUT: '
run portctl "$COPPERD" ping --bogus
check "bad option → exit 2" 2 '' '^portctl: '

# --- every example of portctl --help and tools/README.md, in order, on fresh services --------
DOCS="$TMP/docs"; mkdir -p "$DOCS"
serve copperd "$DOCS/copperd.sock"
serve compositord "$DOCS/compositord.sock"
head -c 16 /dev/zero >"$DOCS/frame.raw"
export COPPERD_SOCKET="$DOCS/copperd.sock" COMPOSITORD_SOCKET="$DOCS/compositord.sock"
run_examples() { # SOURCE-NAME FILE-OF-EXAMPLE-LINES
  local n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    run bash -c "cd \"\$1\" && set -euo pipefail && $line" _ "$DOCS" </dev/null
    check "$1 example $n: ${line:0:90}" 0
  done <"$2"
}
portctl --help | sed -n '/^Examples/,$p' | grep '^  portctl ' | sed 's/^  //' >"$TMP/help-examples"
[ -s "$TMP/help-examples" ] && pass "--help has examples" || { CODE=-; fail "--help has examples"; }
run_examples "--help" "$TMP/help-examples"
# Fresh services again for the README (its examples load program 1 and create layer 1 too).
kill "${PIDS[-1]}" "${PIDS[-2]}"; wait "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true
serve copperd "$DOCS/copperd2.sock"
serve compositord "$DOCS/compositord2.sock"
export COPPERD_SOCKET="$DOCS/copperd2.sock" COMPOSITORD_SOCKET="$DOCS/compositord2.sock"
awk '/^```sh/{on=1; next} /^```/{on=0} on && /^portctl /' tools/README.md >"$TMP/readme-examples"
[ -s "$TMP/readme-examples" ] && pass "README has examples" || { CODE=-; fail "README has examples"; }
run_examples "README" "$TMP/readme-examples"

# --- the same portctl compiled for Node (what an npm `bin` runs) -----------------------------
if command -v node >/dev/null; then
  cat >"$TMP/tsconfig.json" <<EOF
{
  "extends": "$ROOT/tsconfig.node.json",
  "compilerOptions": { "rootDir": "$ROOT", "outDir": "$TMP/node", "declaration": false, "sourceMap": false,
                       "typeRoots": ["$ROOT/node_modules/@types"] },
  "include": [],
  "files": ["$ROOT/tools/portctl.ts", "$ROOT/sdk/ts/node/mod.ts", "$ROOT/sdk/ts/node/ffi/fd_handle.ts"]
}
EOF
  run "$ROOT/node_modules/.bin/tsc" -p "$TMP/tsconfig.json"
  check "portctl compiles for Node" 0
  cp package.json "$TMP/node/" && ln -s "$ROOT/node_modules" "$TMP/node/node_modules"
  NODE_PORTCTL="$TMP/node/tools/portctl.js"
  run node "$NODE_PORTCTL" "$COPPERD" ping
  check "Node portctl: ping" 0 '.[0].name == "copperd"'
  run node "$NODE_PORTCTL" "$COPPERD" subscribe events=vsync --count 2
  check "Node portctl: subscribe" 0 'length == 2 and all(.[]; .event == "vsync")'
  run node "$NODE_PORTCTL" "$COPPERD" status id=424242
  check "Node portctl: error response → exit 1" 1 '' '^NOT_FOUND: '
  run node "$NODE_PORTCTL" "$COPPERD" stauts
  check "Node portctl: unknown command → exit 2" 2 '' 'did you mean "status"'
  run node "$NODE_PORTCTL" "$TMP/missing.sock" ping
  check "Node portctl: missing socket → exit 3" 3 '' 'no such socket'
  run node "$NODE_PORTCTL" "$COMPOSITORD_SOCKET" bind_dmabuf id=1 w=2 h=2 format=RGBA8 stride=8 --fd "$DOCS/frame.raw"
  check "Node portctl: --fd" 0 '.[0].bytes == 16'
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
