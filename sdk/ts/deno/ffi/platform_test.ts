import assert from "node:assert/strict";
import type { Connection } from "../../core/transport.ts";
import { ffiPlatform } from "./mod.ts";
import { collect, encode, idle, makeStaleSocket, openFds, tempDir, within } from "./test_util.ts";

const deno = Deno.execPath();
const here = new URL(".", import.meta.url).pathname;

Deno.test("connect to a missing socket: NotFound with code ENOENT and a clear message", async () => {
  using dir = tempDir();
  const address = `${dir.path}/missing.sock`;
  await assert.rejects(ffiPlatform.connect(address), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.NotFound);
    assert.equal(e.code, "ENOENT");
    assert.equal(e.message, `Cannot connect to "${address}": no such file or directory`);
    return true;
  });
  await assert.rejects(ffiPlatform.connect("@copperline-ffi-test/nobody-" + crypto.randomUUID()), {
    code: "ECONNREFUSED",
    name: "ConnectionRefused",
  });
  const before = openFds();
  await assert.rejects(ffiPlatform.connect(address));
  assert.equal(openFds(), before, "failed connect leaks no socket");
});

Deno.test("connect to a stale socket file: ConnectionRefused", async () => {
  using dir = tempDir();
  const address = `${dir.path}/stale.sock`;
  makeStaleSocket(address);
  assert.ok(Deno.lstatSync(address).isSocket);
  await assert.rejects(ffiPlatform.connect(address), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.ConnectionRefused);
    assert.equal(e.code, "ECONNREFUSED");
    assert.equal(e.message, `Cannot connect to "${address}": connection refused`);
    return true;
  });
});

Deno.test("listen: mode 0660 by default, custom mode, gid, file removed on close", async () => {
  using dir = tempDir();
  const address = `${dir.path}/mode.sock`;
  const listener = await ffiPlatform.listen(address, () => {});
  assert.equal(listener.address, address);
  const st = Deno.lstatSync(address);
  assert.ok(st.isSocket);
  assert.equal(st.mode! & 0o777, 0o660);
  await listener.close();
  assert.throws(() => Deno.lstatSync(address), Deno.errors.NotFound);

  const gid = Deno.gid()!;
  const l2 = await ffiPlatform.listen(address, () => {}, { mode: 0o600, gid });
  assert.equal(Deno.lstatSync(address).mode! & 0o777, 0o600);
  assert.equal(Deno.lstatSync(address).gid, gid);
  await l2.close();
  await idle();
});

Deno.test("listen: a stale socket file is replaced, a live one is not stolen", async () => {
  using dir = tempDir();
  const address = `${dir.path}/busy.sock`;
  makeStaleSocket(address);
  Deno.chmodSync(address, 0o604); // marks the stale file
  const listener = await ffiPlatform.listen(address, (c) => {
    c.start({ data: (chunk) => void c.write(chunk), closed: () => c.close() });
  });
  assert.equal(Deno.lstatSync(address).mode! & 0o777, 0o660, "stale file replaced");

  await assert.rejects(ffiPlatform.listen(address, () => {}), (e: Error & { code?: string }) => {
    assert.ok(e instanceof Deno.errors.AddrInUse);
    assert.equal(e.code, "EADDRINUSE");
    assert.equal(e.message, `Address "${address}" is already in use`);
    return true;
  });
  // The live listener still works and still owns the path.
  const client = await ffiPlatform.connect(address);
  const sink = collect(client);
  await client.write(encode("still mine\n"));
  await within(sink.waitBytes(11), 5000, "echo");
  assert.equal(sink.text(), "still mine\n");
  client.close();

  // A Deno listener that is live is not stolen either; a regular file is never removed.
  await listener.close();
  const regular = `${dir.path}/regular`;
  Deno.writeTextFileSync(regular, "keep me");
  await assert.rejects(ffiPlatform.listen(regular, () => {}), { code: "EADDRINUSE" });
  assert.equal(Deno.readTextFileSync(regular), "keep me");

  const abstract = "@copperline-ffi-test/busy-" + crypto.randomUUID();
  const a1 = await ffiPlatform.listen(abstract, () => {});
  await assert.rejects(ffiPlatform.listen(abstract, () => {}), { code: "EADDRINUSE" });
  await a1.close();
  await idle();
});

Deno.test("1,000 concurrent FFI client connections to one FFI listener, one round trip each", async () => {
  using dir = tempDir();
  const address = `${dir.path}/thousand.sock`;
  const before = openFds();
  const accepted: Connection[] = [];
  const listener = await ffiPlatform.listen(address, (c) => {
    accepted.push(c);
    c.start({
      data(chunk) {
        const p = c.write(chunk);
        if (p) p.catch(() => {});
      },
      closed() {
        c.close();
      },
    });
  });
  const threads = () =>
    Number(/Threads:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"))![1]);
  const threadsBefore = threads();
  const N = 1000;
  const clients = await Promise.all(Array.from({ length: N }, () => ffiPlatform.connect(address)));
  const sinks = clients.map((c) => collect(c));
  await Promise.all(clients.map((c, i) => c.write(encode(`client ${i}\n`))));
  await within(
    Promise.all(sinks.map((s, i) => s.waitBytes(`client ${i}\n`.length))),
    20000,
    "all echoes",
  );
  sinks.forEach((s, i) => assert.equal(s.text(), `client ${i}\n`));
  assert.equal(accepted.length, N);
  assert.ok(openFds() >= before + 2 * N, "both ends of every connection are open at once");
  // One epoll_wait on the FFI pool for the whole process: no thread per connection.
  assert.ok(threads() <= threadsBefore + 2, `threads ${threadsBefore} -> ${threads()}`);
  for (const c of clients) c.close();
  await within(Promise.all(sinks.map((s) => s.closedPromise)), 5000, "clients closed");
  await within(
    (async () => {
      while (accepted.some((c) => !(c as unknown as { closed: boolean }).closed)) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    10000,
    "server sides closed",
  );
  await listener.close();
  await idle();
  assert.equal(openFds(), before);
});

async function runChild(args: string[], timeoutMs: number) {
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "--no-check", `${here}testdata/child_client.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const started = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    child.output(),
    new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs))),
  ]);
  clearTimeout(timer);
  if (result === null) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`child did not exit within ${timeoutMs} ms`);
  }
  return {
    ...result,
    ms: performance.now() - started,
    out: new TextDecoder().decode(result.stdout),
    err: new TextDecoder().decode(result.stderr),
  };
}

Deno.test("a process exits on its own after its connections and listener close", async () => {
  using dir = tempDir();
  const r = await runChild([`${dir.path}/self.sock`, "self"], 5000);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), "reply: ping");
});

Deno.test("a process exits while an unref'd connection stays open", async () => {
  using dir = tempDir();
  const address = `${dir.path}/unref.sock`;
  const accepted: Connection[] = [];
  const listener = await ffiPlatform.listen(address, (c) => {
    accepted.push(c);
    c.start({
      data(chunk, fds) {
        for (const h of fds ?? []) h.close();
        c.write(chunk);
      },
      closed() {
        c.close();
      },
    });
  });
  const r = await runChild([address, "unref"], 5000);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), "reply: ping");
  assert.equal(accepted.length, 1);
  await within(
    (async () => {
      while (!(accepted[0] as unknown as { closed: boolean }).closed) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    5000,
    "server saw the child go away",
  );
  await listener.close();
  await idle();
});

Deno.test("an unref'd connection still receives while something else keeps the process alive", async () => {
  using dir = tempDir();
  const address = `${dir.path}/unref-live.sock`;
  let gotServer!: (c: Connection) => void;
  const serverPromise = new Promise<Connection>((r) => (gotServer = r));
  const listener = await ffiPlatform.listen(address, (c) => gotServer(c));
  const client = await ffiPlatform.connect(address);
  const sink = collect(client);
  client.ref!(false);
  const server = await serverPromise;
  await listener.close(); // nothing ref'd is left in the reactor
  await new Promise((r) => setTimeout(r, 50));
  server.start({ data() {}, closed() {} });
  server.ref!(false);
  await server.write(encode("event\n"));
  await within(sink.waitBytes(6), 2000, "event delivered to an unref'd connection");
  assert.equal(sink.text(), "event\n");
  client.close();
  server.close();
  await idle();
});

Deno.test("partial writes: a multi-megabyte chunk to a slow reader arrives complete and in order", async () => {
  using dir = tempDir();
  const address = `${dir.path}/big.sock`;
  let server!: Connection;
  const listener = await ffiPlatform.listen(address, (c) => (server = c));
  const client = await ffiPlatform.connect(address);
  collect(client);
  const size = 8 * 1024 * 1024 + 13;
  const big = new Uint8Array(size);
  for (let i = 0; i < size; i++) big[i] = (i * 7 + (i >> 16)) & 0xff;
  const expected = big.slice();
  const p = client.write(big);
  assert.ok(p instanceof Promise, "8 MiB cannot be written synchronously");
  big.fill(0); // the caller may reuse its buffer once write() returned
  const queued = client.write(encode("tail\n")); // queued behind the big write
  assert.ok(queued instanceof Promise);
  // The reader only starts after a delay, then stays slow (it sleeps between chunks).
  await new Promise((r) => setTimeout(r, 100));
  const received: Uint8Array[] = [];
  let length = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  let slow = 0;
  server.start({
    data(chunk) {
      received.push(chunk);
      length += chunk.length;
      if (slow++ < 20) {
        const until = performance.now() + 2;
        while (performance.now() < until) { /* slow reader */ }
      }
      if (length >= size + 5) done();
    },
    closed() {},
  });
  await within(Promise.all([p, queued, all]), 20000, "all bytes");
  const out = new Uint8Array(length);
  let off = 0;
  for (const c of received) {
    out.set(c, off);
    off += c.length;
  }
  assert.equal(length, size + 5);
  assert.deepEqual(out.subarray(0, size), expected);
  assert.equal(new TextDecoder().decode(out.subarray(size)), "tail\n");
  client.close();
  server.close();
  await listener.close();
  await idle();
});

Deno.test("connect honours an already-aborted signal", async () => {
  using dir = tempDir();
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  await assert.rejects(
    ffiPlatform.connect(`${dir.path}/x.sock`, { signal: controller.signal }),
    /stop/,
  );
  assert.equal(ffiPlatform.name, "deno-ffi");
  assert.equal(ffiPlatform.env("FFI_TEST_SURELY_UNSET_VARIABLE"), undefined);
});
