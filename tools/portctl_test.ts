/**
 * portctl end to end: every form and every bad-input case, run as a child process against
 * in-process servers built from the generated stubs, asserting stdout, stderr and exit status.
 */

import assert from "node:assert/strict";
import { startFakeCopperd } from "./testdata/fake_copperd.ts";
import { startFakeCompositord } from "./testdata/fake_compositord.ts";
import { CopperdServer } from "../sdk/ts/services/copperd_server.ts";
import { AF_UNIX, libc, SOCK_STREAM } from "../sdk/ts/deno/ffi/libc.ts";
import { sockaddrUn } from "../sdk/ts/deno/ffi/platform.ts";
import { didYouMean, parseKeyValues, resolveTarget, USAGE } from "./portctl.ts";

const DENO = Deno.execPath();
const PORTCTL = new URL("./portctl.ts", import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function portctl(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", "--no-check", PORTCTL, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const r = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  // Never a stack trace, and at most one line on stderr.
  assert.doesNotMatch(r.stderr, /\n\s+at /, r.stderr);
  assert.ok(
    r.stderr.split("\n").filter(Boolean).length <= 1,
    `more than one stderr line: ${r.stderr}`,
  );
  return r;
}

function lines(s: string): unknown[] {
  return s.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("portctl unit: key=value parsing", () => {
  const { args, raw } = parseKeyValues([
    "id=1",
    "name=abc",
    "dst.w=128",
    "dst.h=64",
    'p:={"a":[1]}',
    "b=true",
    "e=",
  ]);
  assert.deepEqual(args, {
    id: 1,
    name: "abc",
    dst: { w: 128, h: 64 },
    p: { a: [1] },
    b: true,
    e: "",
  });
  assert.equal(raw.get("id"), "1");
  assert.throws(() => parseKeyValues(["id"]), /expected key=value/);
  assert.throws(() => parseKeyValues(["p:={bad"]), /invalid JSON/);
  assert.throws(() => parseKeyValues(["a=1", "a=2"]), /given twice/);
  assert.throws(() => parseKeyValues(["a=1", "a.b=2"]), /both a value and an object/);
  assert.throws(() => parseKeyValues(["9x=1"]), /bad argument name/);
  assert.match(didYouMean("stauts", ["start", "status"]), /did you mean "status"/);
});

Deno.test("portctl unit: target resolution", () => {
  const none = () => false;
  assert.deepEqual(resolveTarget("@copperline/copperd", () => undefined, none), {
    address: "@copperline/copperd",
  });
  assert.deepEqual(resolveTarget("/tmp/x.sock", () => undefined, none), { address: "/tmp/x.sock" });
  assert.deepEqual(
    resolveTarget("compat-uae", (n) => n === "COMPAT_UAE_SOCKET" ? "/tmp/u" : undefined, none),
    {
      address: "/tmp/u",
      service: "compat-uae",
    },
  );
  assert.deepEqual(
    resolveTarget("copperd", () => undefined, (p) => p === "/run/copperline/copperd.sock"),
    {
      address: "/run/copperline/copperd.sock",
      service: "copperd",
    },
  );
  assert.throws(
    () => resolveTarget("copperd", () => undefined, none),
    /unknown service "copperd": no socket/,
  );
});

Deno.test("portctl --help documents every form and exit status", async () => {
  const r = await portctl(["--help"]);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, USAGE);
  for (
    const s of [
      "'<json>'",
      "key=value",
      "describe",
      "subscribe",
      "--stream",
      "--count",
      "--pretty",
      "--json",
      "--caps",
      "--fd",
      "--timeout",
      "_SOCKET",
      "@name",
    ]
  ) {
    assert.ok(r.stdout.includes(s), s);
  }
  for (
    const code of ["0  success", "1  error response", "2  usage", "3  connection", "4  timeout"]
  ) assert.ok(r.stdout.includes(code), code);
});

Deno.test("portctl against a simulated copperd", opts, async (t) => {
  const dir = await Deno.makeTempDir();
  const sock = `${dir}/copperd.sock`;
  const server = await startFakeCopperd(sock);
  try {
    await t.step("raw form: id added, whole response printed", async () => {
      const r = await portctl([sock, '{"cmd":"ping"}']);
      assert.equal(r.code, 0, r.stderr);
      const [resp] = lines(r.stdout) as Record<string, unknown>[];
      assert.equal(resp.ok, true);
      assert.equal(resp.id, 1);
      assert.deepEqual(resp.result, { name: "copperd", version: "0.1.0", protocol: 0 });
      assert.equal(r.stdout.split("\n").length, 2, "one compact line");
    });
    await t.step("raw form: own id kept, --pretty", async () => {
      const r = await portctl([sock, '{"id":"a","cmd":"list","args":{}}', "--pretty"]);
      assert.equal(r.code, 0);
      assert.deepEqual(JSON.parse(r.stdout), { ok: true, id: "a", result: { programs: [] } });
      assert.ok(r.stdout.split("\n").length > 3);
    });
    await t.step("raw form: flat legacy args get the server's BAD_ARG", async () => {
      const r = await portctl([sock, '{"cmd":"start","prog":1}']);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^BAD_ARG: .*args/);
      assert.equal((lines(r.stdout)[0] as { ok: boolean }).ok, false);
    });
    await t.step("raw form: invalid JSON, non-object, extra words", async () => {
      let r = await portctl([sock, '{"cmd":"ping",']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^portctl: invalid JSON request: /);
      r = await portctl([sock, "[1,2]"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /must be a JSON object/);
      r = await portctl([sock, '{"cmd":"ping"}', "x=1"]);
      assert.equal(r.code, 2);
    });
    await t.step("typed form: load, status, --pretty", async () => {
      let r = await portctl([
        sock,
        "load",
        'program:={"version":1,"program":[{"op":"WAIT","vsync":true}]}',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines(r.stdout), [{ id: 1 }]);
      r = await portctl([sock, "start", "id=1"]);
      assert.deepEqual(lines(r.stdout), [{}]);
      r = await portctl([sock, "status", "id=1", "--pretty"]);
      assert.equal(r.code, 0);
      assert.deepEqual(JSON.parse(r.stdout), { id: 1, state: "running" });
      r = await portctl([sock, "ping"]);
      assert.deepEqual(lines(r.stdout), [{ name: "copperd", version: "0.1.0", protocol: 0 }]);
    });
    await t.step("typed form: error response → exit 1, CODE: message", async () => {
      const r = await portctl([sock, "status", "id=99"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "NOT_FOUND: No program 99\n");
    });
    await t.step(
      "typed form: unknown command, argument; missing argument; bad key=value",
      async () => {
        let r = await portctl([sock, "stauts", "id=1"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /unknown command "stauts" for copperd; did you mean "status"\?/);
        r = await portctl([sock, "status", "idd=1"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /unknown argument "idd" for copperd status; did you mean "id"\?/);
        r = await portctl([sock, "load", 'program:={"version":1,"programm":[]}']);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /unknown argument "program.programm".*did you mean "program"/);
        r = await portctl([sock, "load", "program.version=1", "program.program:=[]"]);
        assert.equal(r.code, 1, "nested dotted keys reach the server (which checks minItems)");
        assert.match(r.stderr, /^BAD_ARG: /);
        r = await portctl([sock, "status"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /missing required argument "id"/);
        r = await portctl([sock, "status", "id"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /bad argument "id": expected key=value/);
        r = await portctl([sock, "status", "id:=x"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /bad value for "id": invalid JSON/);
        r = await portctl([sock, "list", "x=1"]);
        assert.equal(r.code, 2);
        assert.match(r.stderr, /unknown argument "x"/);
      },
    );
    await t.step("describe: tables and --json", async () => {
      let r = await portctl([sock, "describe"]);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /^copperd 0\.1\.0 \(protocol 0\)/);
      assert.match(r.stdout, /COMMAND\s+ARGS\s+CAPS\s+SINCE/);
      assert.match(r.stdout, /load\s+program\*:Program\s+programs\.write\s+0\.1\.0/);
      assert.match(r.stdout, /EVENT\s+FIELDS\s+FILTERS/);
      assert.match(r.stdout, /irq\s+tag:string prog:integer usec:integer\s+tag,prog/);
      r = await portctl([sock, "describe", "--json"]);
      const d = lines(r.stdout)[0] as Record<string, unknown>;
      assert.equal(d.service, "copperd");
      assert.ok(d.limits);
    });
    await t.step("subscribe: typed stream with filters, --count", async () => {
      let r = await portctl([sock, "subscribe", "events=irq", "tag=tick", "--count", "3"]);
      assert.equal(r.code, 0, r.stderr);
      const evs = lines(r.stdout) as { event: string; tag: string }[];
      assert.equal(evs.length, 3);
      for (const e of evs) assert.deepEqual([e.event, e.tag], ["irq", "tick"]);
      r = await portctl([sock, "subscribe", "events=irq,vsync", "--count", "4"]);
      assert.equal(lines(r.stdout).length, 4);
      r = await portctl([sock, "subscribe", "events=irqq"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /unknown event "irqq" for copperd; did you mean "irq"\?/);
      r = await portctl([sock, "subscribe", "events=irq", "tagg=x"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /"tagg" is not a filter of irq; did you mean "tag"\?/);
      r = await portctl([sock, "subscribe"]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /subscribe needs events=/);
    });
    await t.step("subscribe: raw form --stream --count", async () => {
      const r = await portctl([
        sock,
        '{"cmd":"subscribe","args":{"events":["vsync"]}}',
        "--stream",
        "--count",
        "2",
      ]);
      assert.equal(r.code, 0);
      const [resp, ...evs] = lines(r.stdout) as Record<string, unknown>[];
      assert.deepEqual(resp, { ok: true, id: 1, result: { sub: 1, events: ["vsync"] } });
      assert.equal(evs.length, 2);
      for (const e of evs) assert.equal(e.event, "vsync");
    });
    await t.step("service names: <SERVICE>_SOCKET", async () => {
      const r = await portctl(["copperd", "ping"], { COPPERD_SOCKET: sock });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((lines(r.stdout)[0] as { name: string }).name, "copperd");
    });
    await t.step("bad options", async () => {
      for (
        const args of [["--bogus", sock, "ping"], [sock, "ping", "--timeout", "soon"], [
          sock,
          "ping",
          "--count",
          "-1",
        ], [sock]]
      ) {
        const r = await portctl(args);
        assert.equal(r.code, 2, args.join(" "));
        assert.match(r.stderr, /^portctl: /);
      }
      const r = await portctl([]);
      assert.equal(r.code, 2);
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("portctl: abstract sockets", opts, async () => {
  const name = `@copperline-portctl-test-${Deno.pid}`;
  const server = await startFakeCopperd(name);
  try {
    const r = await portctl([name, "ping"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((lines(r.stdout)[0] as { name: string }).name, "copperd");
  } finally {
    await server.close();
  }
});

Deno.test("portctl: --caps", opts, async () => {
  const dir = await Deno.makeTempDir();
  const sock = `${dir}/c.sock`;
  const server = await CopperdServer.serve({
    load: () => ({ id: 1 }),
    start: () => ({}),
    stop: () => ({}),
    unload: () => ({}),
    list: () => ({ programs: [] }),
    status: ({ id }) => ({ id, state: "stopped" as const }),
  }, { address: sock, capabilities: { "tok-1": ["programs.read"] }, onError: () => {} });
  try {
    let r = await portctl([sock, "list"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^DENIED: /);
    r = await portctl([sock, "list", "--caps", "tok-1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [{ programs: [] }]);
    r = await portctl([sock, '{"cmd":"list"}', "--caps", "tok-1"]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("portctl: --fd passes files by SCM_RIGHTS", opts, async () => {
  const dir = await Deno.makeTempDir();
  const sock = `${dir}/compositord.sock`;
  const file = `${dir}/frame.raw`;
  await Deno.writeFile(file, new Uint8Array(128 * 4 * 2));
  const server = await startFakeCompositord(sock);
  try {
    const base = [sock, "bind_dmabuf", "id=1", "w=128", "h=2", "format=RGBA8", "stride=512"];
    let r = await portctl([...base, "--fd", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [{ id: 1, bytes: 1024, checksum: "00000000" }]);
    r = await portctl([...base, "--fd", `fd=${file}`]);
    assert.equal(r.code, 0, r.stderr);
    r = await portctl([...base, "--fd", `fdd=${file}`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /"fdd" is not a descriptor argument.*did you mean "fd"/);
    r = await portctl([...base, "--fd", `${dir}/missing`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--fd .*missing: no such file/);
    r = await portctl([...base]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument "fd"/);
    r = await portctl([
      sock,
      '{"cmd":"bind_dmabuf","args":{"id":1,"fd":{"fd_index":0},"w":128,"h":2,"format":"RGBA8","stride":512}}',
      "--fd",
      file,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((lines(r.stdout)[0] as { result: { bytes: number } }).result.bytes, 1024);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("portctl: connection problems and timeouts", opts, async () => {
  const dir = await Deno.makeTempDir();
  try {
    let r = await portctl([`${dir}/missing.sock`, "ping"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /^portctl: cannot connect to .*missing\.sock: no such socket/);
    r = await portctl([`${dir}/missing.sock`, '{"cmd":"ping"}']);
    assert.equal(r.code, 3);
    r = await portctl(["nosuchservice", "ping"], { NOSUCHSERVICE_SOCKET: "" });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /unknown service "nosuchservice": no socket \(set NOSUCHSERVICE_SOCKET/);
    // A socket file nobody listens on: refused.
    const stale = `${dir}/stale.sock`;
    {
      const sock = libc().socket(AF_UNIX, SOCK_STREAM, 0);
      const { addr, length } = sockaddrUn(stale);
      assert.equal(libc().bind(sock, addr, length), 0);
      libc().close(sock);
    }
    r = await portctl([stale, "ping"]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /connection refused/);
    // A server that accepts and never answers: timeout.
    const mute = `${dir}/mute.sock`;
    const listener = Deno.listen({ transport: "unix", path: mute });
    const conns: Deno.Conn[] = [];
    (async () => {
      for await (const c of listener) conns.push(c);
    })();
    r = await portctl([mute, "ping", "--timeout", "300ms"]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^TIMEOUT: /);
    r = await portctl([mute, '{"cmd":"ping"}', "--timeout", "0.3"]);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /^TIMEOUT: /);
    listener.close();
    for (const c of conns) c.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
