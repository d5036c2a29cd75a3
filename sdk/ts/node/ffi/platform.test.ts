/**
 * Tests of the FFI platform under Node (`node --test`): real sockets in a temporary directory
 * and abstract names.
 */

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Connection, FdHandle, Listener, Platform } from "../../core/transport.ts";
import { nodePlatform } from "../net_platform.ts";
import { abstractAddress, Collector, encode, fdCount, sleep, tempDir, timeout, writeAll } from "../testing.ts";
import { C, raw } from "./libc.ts";
import {
  createMemfd,
  createNodeFfiPlatform,
  fdSize,
  FfiConnection,
  nodeFfiPlatform,
  readFd,
  reactor,
  writeFd,
} from "./mod.ts";

const ffi = nodeFfiPlatform;
let tmp: { dir: string; cleanup: () => void };
before(() => {
  tmp = tempDir();
});
after(() => tmp.cleanup());
let seq = 0;
const pathAddress = (tag: string) => join(tmp.dir, `${tag}-${seq++}.sock`);

/** An echo server: every accepted connection writes back what it reads. */
async function echoServer(platform: Platform, address: string): Promise<{ listener: Listener; conns: Connection[] }> {
  const conns: Connection[] = [];
  const listener = await platform.listen(address, (c) => {
    conns.push(c);
    c.start({
      data(chunk, fds) {
        if (fds) for (const fd of fds) fd.close();
        const p = c.write(chunk);
        if (p) p.catch(() => {});
      },
      closed() {},
    });
  });
  return { listener, conns };
}

async function roundTrip(client: Platform, server: Platform, address: string): Promise<void> {
  const { listener } = await echoServer(server, address);
  const c = await client.connect(address);
  const sink = new Collector();
  c.start(sink);
  const msg = encode(`{"cmd":"ping","id":1}\n`);
  for (let i = 1; i <= 3; i++) {
    await writeAll(c, msg);
    await sink.until(msg.length * i);
  }
  assert.equal(sink.text(), new TextDecoder().decode(msg).repeat(3));
  c.close();
  assert.equal(await sink.closedPromise, undefined);
  await listener.close();
}

/** A connected pair through an FFI listener; `onServer` gets the accepted side. */
async function pair(
  address: string,
  platform: Platform = ffi,
  serverPlatform: Platform = ffi,
): Promise<{ client: Connection; server: Connection; listener: Listener }> {
  let resolveServer!: (c: Connection) => void;
  const accepted = new Promise<Connection>((r) => (resolveServer = r));
  const listener = await serverPlatform.listen(address, (c) => resolveServer(c));
  const client = await platform.connect(address);
  const server = await timeout(accepted, 5000, "accept");
  return { client, server, listener };
}

describe("node-ffi byte round trips", () => {
  test("path socket", () => roundTrip(ffi, ffi, pathAddress("rt")));
  test("abstract socket", () => roundTrip(ffi, ffi, abstractAddress("rt")));
  test("FFI client ↔ node:net server on a path socket", () => roundTrip(ffi, nodePlatform, pathAddress("interop")));
  test("node:net client ↔ FFI server on a path socket", () => roundTrip(nodePlatform, ffi, pathAddress("interop2")));

  test("abstract names have their exact length (a Python peer reaches them)", async (t) => {
    if (spawnSync("python3", ["-c", "pass"]).status !== 0) return t.skip("no python3");
    const address = abstractAddress("py");
    const { listener } = await echoServer(ffi, address);
    const script = "import socket,sys\n" +
      "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)\n" +
      "s.connect('\\0'+sys.argv[1])\n" +
      "s.sendall(b'exact\\n')\n" +
      "print(s.recv(100).decode().strip())\n";
    const child = spawn("python3", ["-c", script, address.slice(1)]);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const code = await new Promise((r) => child.on("exit", r));
    assert.equal(code, 0);
    assert.equal(out.trim(), "exact");
    await listener.close();
  });
});

describe("node-ffi descriptors", () => {
  test("memfd passed both directions with contents checked", async () => {
    const { client, server, listener } = await pair(pathAddress("memfd"));
    const serverSink = new Collector((_chunk, fds) => {
      if (!fds) return;
      // Reply: read the client's memfd, send back a new memfd with the text upper-cased.
      const text = new TextDecoder().decode(readFd(fds[0], fdSize(fds[0])));
      const reply = createMemfd("reply", 0);
      writeFd(reply, encode(text.toUpperCase()));
      const p = server.write(encode(`{"ok":true,"fds":1}\n`), [reply.fd]);
      if (p) p.then(() => reply.close());
      else reply.close();
    });
    server.start(serverSink);
    const clientSink = new Collector();
    client.start(clientSink);

    const mine = createMemfd("request", 4096);
    assert.equal(fdSize(mine), 4096);
    assert.equal(writeFd(mine, encode("shared memory from the client"), 0), 29);
    await writeAll(client, encode(`{"cmd":"x","fds":1}\n`), [mine.fd]);
    await clientSink.until(20);
    assert.equal(serverSink.fds.length, 1);
    assert.equal(clientSink.fds.length, 1);
    const got = clientSink.fds[0];
    const text = new TextDecoder().decode(readFd(got, fdSize(got))).replace(/\0+$/, "");
    assert.equal(text, "SHARED MEMORY FROM THE CLIENT");
    // The sender keeps its own descriptor (borrowed).
    assert.equal(mine.closed, false);
    assert.equal(new TextDecoder().decode(readFd(mine, 6)), "shared");
    // Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC).
    assert.equal(raw.fcntl(got.fd, C.F_GETFD, 0) & 1, 1);
    for (const h of [mine, got, ...serverSink.fds]) h.close();
    client.close();
    await serverSink.closedPromise;
    await listener.close();
  });

  test("FdHandle: close idempotent, take, keep, Symbol.dispose", () => {
    const h = createMemfd("h", 1);
    const fd = h.fd;
    assert.equal(h.kept, false);
    assert.equal(h.keep(), h);
    assert.equal(h.kept, true);
    h[Symbol.dispose]();
    assert.equal(h.closed, true);
    h.close();
    assert.throws(() => h.fd, TypeError);
    assert.equal(raw.fcntl(fd, C.F_GETFD, 0), -1, "descriptor closed");
    const t = createMemfd("t", 1);
    const n = t.take();
    assert.equal(t.closed, true);
    assert.ok(raw.fcntl(n, C.F_GETFD, 0) >= 0, "take() leaves the descriptor open");
    t.close();
    assert.ok(raw.fcntl(n, C.F_GETFD, 0) >= 0);
    raw.close(n);
    assert.equal(Symbol.dispose, Symbol.for("nodejs.dispose"));
  });

  test("2,000 descriptor-carrying writes leak no descriptor", async () => {
    const { client, server, listener } = await pair(pathAddress("leak"));
    let received = 0;
    const serverSink = new Collector((_chunk, fds) => {
      if (fds) {
        received += fds.length;
        for (const fd of fds) fd.close();
      }
    });
    server.start(serverSink);
    client.start(new Collector());
    const memfd = createMemfd("leak", 16);
    await writeAll(client, encode("warm\n"), [memfd.fd]);
    await serverSink.until(5);
    const beforeCount = fdCount();
    const line = encode(`{"cmd":"x","fds":1}\n`);
    for (let i = 0; i < 2000; i++) await writeAll(client, line, [memfd.fd]);
    await serverSink.until(5 + 2000 * line.length);
    assert.equal(received, 2001);
    assert.equal(serverSink.fds.length, 2001);
    assert.ok(serverSink.fds.every((h: FdHandle) => h.closed));
    assert.equal(fdCount(), beforeCount, "descriptor count unchanged after 2,000 passes");
    memfd.close();
    client.close();
    await serverSink.closedPromise;
    await listener.close();
  });

  test("MSG_CTRUNC with a small limit: what arrived is closed and signalled", async () => {
    const small = createNodeFfiPlatform({ maxFdsPerMessage: 2 });
    const address = pathAddress("ctrunc");
    const { client, server, listener } = await pair(address, ffi, small);
    assert.equal((server as FfiConnection).maxFdsPerMessage, 2);
    const sink = new Collector();
    server.start(sink);
    const fds = [createMemfd("a", 1), createMemfd("b", 1), createMemfd("c", 1), createMemfd("d", 1)];
    const beforeCount = fdCount();
    await writeAll(client, encode("four\n"), fds.map((h) => h.fd));
    await sink.until(5);
    assert.equal(sink.truncations, 1);
    assert.equal((server as FfiConnection).fdsTruncated, 1);
    assert.equal(sink.fds.length, 0, "no handle delivered for a truncated message");
    assert.equal(fdCount(), beforeCount, "the two descriptors that arrived were closed");
    // Within the limit: delivered normally.
    await writeAll(client, encode("two\n"), [fds[0].fd, fds[1].fd]);
    await sink.until(9);
    assert.equal(sink.fds.length, 2);
    assert.equal(sink.truncations, 1);
    for (const h of [...fds, ...sink.fds]) h.close();
    client.close();
    await sink.closedPromise;
    await listener.close();
  });

  test("every control message is parsed (SCM_CREDENTIALS beside SCM_RIGHTS)", async () => {
    const { client, server, listener } = await pair(pathAddress("creds"));
    // With SO_PASSCRED the kernel adds an SCM_CREDENTIALS message before SCM_RIGHTS.
    assert.equal(raw.setsockopt((server as FfiConnection).fd, C.SOL_SOCKET, C.SO_PASSCRED, new Int32Array([1]), 4), 0);
    const sink = new Collector();
    server.start(sink);
    const a = createMemfd("a", 0);
    const b = createMemfd("b", 0);
    writeFd(a, encode("A"));
    writeFd(b, encode("B"));
    await writeAll(client, encode("two\n"), [a.fd, b.fd]);
    await sink.until(4);
    assert.equal(sink.fds.length, 2);
    assert.equal(new TextDecoder().decode(readFd(sink.fds[0], 1)), "A");
    assert.equal(new TextDecoder().decode(readFd(sink.fds[1], 1)), "B");
    for (const h of [a, b, ...sink.fds]) h.close();
    client.close();
    await sink.closedPromise;
    await listener.close();
  });

  test("maxFdsPerMessage is validated", () => {
    assert.throws(() => createNodeFfiPlatform({ maxFdsPerMessage: 254 }), RangeError);
    assert.throws(() => createNodeFfiPlatform({ maxFdsPerMessage: -1 }), RangeError);
  });
});

describe("node-ffi connection lifecycle and errors", () => {
  test("peer closes in the middle of a message", async () => {
    const { client, server, listener } = await pair(pathAddress("mid"));
    const sink = new Collector();
    client.start(sink);
    server.start(new Collector());
    await writeAll(server, encode(`{"ok":true,"id":1,"res`));
    server.close();
    assert.equal(await timeout(sink.closedPromise, 5000, "close"), undefined);
    assert.equal(sink.text(), `{"ok":true,"id":1,"res`);
    await listener.close();
  });

  test("EPIPE on a closed peer", async () => {
    const { client, server, listener } = await pair(pathAddress("epipe"));
    server.close();
    await sleep(20);
    assert.throws(() => client.write(encode("x\n")), (e: NodeJS.ErrnoException) => e.code === "EPIPE");
    // The connection is closed now; further writes fail the same way.
    assert.throws(() => client.write(encode("x\n")), (e: NodeJS.ErrnoException) => e.code === "EPIPE");
    const sink = new Collector();
    client.start(sink);
    assert.equal((await sink.closedPromise as NodeJS.ErrnoException | undefined)?.code, "EPIPE");
    await listener.close();
  });

  test("missing socket: a clear error with a code", async () => {
    const address = join(tmp.dir, "nobody.sock");
    await assert.rejects(ffi.connect(address), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, "ENOENT");
      assert.equal(e.syscall, "connect");
      assert.match(e.message, /nobody\.sock/);
      assert.match(e.message, /service running/);
      return true;
    });
    await assert.rejects(ffi.connect(abstractAddress("nobody")), { code: "ECONNREFUSED" });
  });

  test("stale socket replaced, live one not stolen, mode 0660, close unlinks", async () => {
    const address = pathAddress("stale");
    // A stale socket: bound, never listening, its owner gone.
    const fd = raw.socket(C.AF_UNIX, C.SOCK_STREAM, 0);
    const sa = new Uint8Array(110);
    sa[0] = C.AF_UNIX;
    sa.set(encode(address), 2);
    assert.equal(raw.bind(fd, sa, 110), 0);
    raw.close(fd);
    assert.ok(statSync(address).isSocket());

    const { listener } = await echoServer(ffi, address);
    assert.equal(statSync(address).mode & 0o777, 0o660);
    assert.equal(statSync(address).gid, process.getgid!());
    await assert.rejects(echoServer(ffi, address), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, "EADDRINUSE");
      assert.match(e.message, /live server/);
      return true;
    });
    await assert.rejects(echoServer(nodePlatform, address), { code: "EADDRINUSE" });
    // Still served by the first listener.
    const c = await ffi.connect(address);
    const sink = new Collector();
    c.start(sink);
    await writeAll(c, encode("still mine\n"));
    await sink.until(11);
    c.close();
    await listener.close();
    assert.throws(() => statSync(address), { code: "ENOENT" });
  });

  test("connect retries while the listener's backlog is full; a signal aborts the wait", async () => {
    // A raw listener with backlog 1 that does not accept yet.
    const address = pathAddress("backlog");
    const lfd = raw.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK, 0);
    const sa = new Uint8Array(110);
    sa[0] = C.AF_UNIX;
    sa.set(encode(address), 2);
    assert.equal(raw.bind(lfd, sa, 110), 0);
    assert.equal(raw.listen(lfd, 1), 0);
    const pending = Array.from({ length: 5 }, () => ffi.connect(address));
    const ac = new AbortController();
    const aborted = ffi.connect(address, { signal: ac.signal });
    await sleep(50);
    ac.abort(new Error("gave up"));
    await assert.rejects(aborted, /gave up/);
    // Accept everything that arrives until the five connects resolved.
    const accepted: number[] = [];
    let done = false;
    const all = Promise.all(pending).finally(() => (done = true));
    while (!done) {
      const fd = raw.accept4(lfd, null, null, C.SOCK_CLOEXEC);
      if (fd >= 0) accepted.push(fd);
      else await sleep(2);
    }
    const clients = await all;
    assert.equal(clients.length, 5);
    for (const c of clients) c.close();
    for (const fd of accepted) raw.close(fd);
    raw.close(lfd);
  });

  test("abstract name in use: EADDRINUSE", async () => {
    const address = abstractAddress("busy");
    const { listener } = await echoServer(ffi, address);
    await assert.rejects(echoServer(ffi, address), { code: "EADDRINUSE" });
    await listener.close();
  });

  test("a multi-megabyte write to a slow reader arrives intact (with descriptors)", async () => {
    const address = pathAddress("big");
    const { client, server, listener } = await pair(address);
    const size = 8 * 1024 * 1024 + 123;
    const big = new Uint8Array(size);
    for (let i = 0; i < size; i++) big[i] = (i * 31 + (i >>> 13)) & 0xff;
    const memfd = createMemfd("big", 8);
    const pending = client.write(big, [memfd.fd]);
    assert.ok(pending instanceof Promise, "a write larger than the socket buffer waits");
    await sleep(200); // the reader starts late
    const sink = new Collector();
    server.start(sink);
    await pending;
    await sink.until(size, 20_000);
    assert.equal(sink.length, size);
    assert.deepEqual(sink.bytes(), big);
    assert.equal(sink.fds.length, 1, "the descriptor came with the first byte");
    for (const h of [memfd, ...sink.fds]) h.close();
    client.close();
    await sink.closedPromise;
    await listener.close();
  });

  test("close() with a write pending rejects it; closed() is called once", async () => {
    const { client, server, listener } = await pair(pathAddress("pend"));
    const sink = new Collector();
    client.start(sink);
    const p = client.write(new Uint8Array(4 * 1024 * 1024));
    assert.ok(p instanceof Promise);
    client.close();
    client.close();
    await assert.rejects(p, { code: "EPIPE" });
    assert.equal(await sink.closedPromise, undefined);
    server.close();
    await listener.close();
  });
});

describe("node-ffi reactor", () => {
  test("250 concurrent connections in one process (more than the 4 pool threads)", async () => {
    const address = pathAddress("many");
    const { listener, conns } = await echoServer(ffi, address);
    const n = 250;
    const clients = await Promise.all(Array.from({ length: n }, () => ffi.connect(address)));
    const sinks = clients.map((c) => {
      const s = new Collector();
      c.start(s);
      return s;
    });
    // Everything is open at once; the libuv pool still serves other work (one thread is the
    // reactor's, three are free).
    await timeout(readFile("/proc/self/status"), 2000, "a pool-thread file read");
    for (let round = 1; round <= 3; round++) {
      clients.forEach((c, i) => c.write(encode(`{"id":${i},"round":${round}}\n`)));
      await timeout(Promise.all(sinks.map((s, i) => s.until(round * `{"id":${i},"round":1}\n`.length, 10_000))), 10_000, "echoes");
    }
    assert.equal(conns.length, n);
    assert.ok(reactor().size >= 2 * n);
    clients.forEach((c) => c.close());
    await Promise.all(sinks.map((s) => s.closedPromise));
    await listener.close();
    // Server sides close on EOF (after a setImmediate).
    for (let i = 0; i < 50 && reactor().size > 0; i++) await sleep(10);
    assert.equal(reactor().size, 0);
    assert.equal(reactor().refs, 0);
  });

  const child = fileURLToPath(new URL("./fixture_child.js", import.meta.url));
  function runChild(address: string, mode: string): Promise<{ code: number | null; out: string; ms: number }> {
    return new Promise((resolve, reject) => {
      const start = Date.now();
      const p = spawn(process.execPath, [child, address, mode], { stdio: ["ignore", "pipe", "inherit"] });
      let out = "";
      p.stdout.on("data", (d) => (out += d));
      const timer = setTimeout(() => {
        p.kill("SIGKILL");
        reject(new Error(`child (${mode}) did not exit within 5 s; output: ${out}`));
      }, 5000);
      p.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, out, ms: Date.now() - start });
      });
    });
  }

  test("a child that uses an FFI connection, then closes it, exits by itself", async () => {
    const address = abstractAddress("child");
    const { listener } = await echoServer(ffi, address);
    const r = await runChild(address, "roundtrip");
    assert.equal(r.code, 0);
    assert.equal(r.out, "done\n");
    await listener.close();
  });

  test("a child whose only connection is ref(false) exits by itself", async () => {
    const address = pathAddress("unref");
    const { listener, conns } = await echoServer(ffi, address);
    const r = await runChild(address, "unref");
    assert.equal(r.code, 0);
    assert.equal(r.out, "done\n");
    assert.equal(conns.length, 1);
    await listener.close();
  });

  test("a child FFI server exits once its listener and connection are closed", async () => {
    const address = abstractAddress("childsrv");
    const start = Date.now();
    const p = spawn(process.execPath, [child, address, "server"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const exited = new Promise<number | null>((r) => p.on("exit", r));
    await timeout(new Promise<void>((r) => p.stdout.on("data", (d) => (out += d, out.includes("listening") && r()))), 5000, "child listening");
    const c = await ffi.connect(address);
    const sink = new Collector();
    c.start(sink);
    await writeAll(c, encode("hi\n"));
    await sink.until(3);
    c.close();
    const code = await timeout(exited, 5000, "child exit");
    assert.equal(code, 0);
    assert.ok(Date.now() - start < 5000);
  });

  test("an unref'd connection still receives while something else keeps the process alive", async () => {
    const { client, server, listener } = await pair(pathAddress("unrefrx"));
    const sink = new Collector();
    client.start(sink);
    client.ref!(false);
    server.start(new Collector());
    await listener.close();
    // Only unref'd registrations with read interest remain on the client side… plus the server
    // side, ref'd. Close the server side's reading by ref(false) too.
    server.ref!(false);
    for (let i = 0; i < 100 && (reactor().refs > 0 || reactor().waiting); i++) await sleep(10);
    assert.equal(reactor().refs, 0);
    assert.equal(reactor().waiting, false, "no epoll_wait holds a pool thread");
    await writeAll(server, encode("while unref'd\n"));
    await sink.until(14, 2000); // the timer inside keeps the process alive meanwhile
    assert.equal(sink.text(), "while unref'd\n");
    client.close();
    server.close();
  });
});
