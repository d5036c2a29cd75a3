import assert from "node:assert/strict";
import type { Connection } from "../../core/transport.ts";
import {
  createMemfd,
  fdHandle,
  fdSize,
  type FfiConnection,
  ffiPlatform,
  readFd,
  writeFd,
} from "./mod.ts";
import { collect, type Collector, encode, idle, openFds, tempDir, within } from "./test_util.ts";

async function pair(address: string, listenOptions = {}) {
  let resolveServer!: (c: Connection) => void;
  const serverConn = new Promise<Connection>((r) => (resolveServer = r));
  const listener = await ffiPlatform.listen(address, (c) => resolveServer(c), listenOptions);
  const client = await ffiPlatform.connect(address);
  const server = await serverConn;
  return { listener, client, server };
}

Deno.test("FdHandle: idempotent close, take, keep, dispose, fd getter throws", () => {
  const h = createMemfd("handle", 10);
  assert.equal(fdSize(h), 10);
  assert.equal(h.kept, false);
  assert.equal(h.keep(), h);
  assert.equal(h.kept, true);
  const fd = h.fd;
  assert.ok(fd > 2);
  h.close();
  h.close();
  assert.equal(h.closed, true);
  assert.throws(() => h.fd, TypeError);
  assert.throws(() => Deno.statSync(`/proc/self/fd/${fd}`), Deno.errors.NotFound);
  const h2 = createMemfd("take", 1);
  const raw = h2.take();
  assert.equal(h2.closed, true);
  assert.throws(() => h2.fd, TypeError);
  const h3 = fdHandle(raw); // still open: take() did not close it
  assert.equal(fdSize(h3), 1);
  {
    using h4 = h3;
    assert.equal(h4.closed, false);
  }
  assert.equal(h3.closed, true);
});

Deno.test("memfd helpers: write/read at offsets, size", () => {
  using h = createMemfd("rw", 0);
  writeFd(h, encode("hello world"), 5);
  assert.equal(fdSize(h), 16);
  assert.equal(new TextDecoder().decode(readFd(h, 11, 5)), "hello world");
  assert.deepEqual(readFd(h, 5), new Uint8Array(5));
  assert.equal(readFd(h, 100, 10).length, 6, "short read at end of file");
});

Deno.test("memfd passed client→server and server→client, contents checked", async () => {
  using dir = tempDir();
  const { listener, client, server } = await pair(`${dir.path}/fd.sock`);
  const serverSink = collect(server);
  const clientSink = collect(client);

  using outbound = createMemfd("to-server", 0);
  writeFd(outbound, encode("from the client"));
  await client.write(encode('{"fds":1}\n'), [outbound.fd]);
  await within(serverSink.waitBytes(10), 5000, "server got line");
  assert.equal(serverSink.fds.length, 1);
  const received = serverSink.fds[0];
  assert.notEqual(received.fd, outbound.fd);
  assert.equal(new TextDecoder().decode(readFd(received, 100)), "from the client");
  // Same open file: writes through the received fd are visible on the sender's fd.
  writeFd(received, encode("FROM"));
  assert.equal(new TextDecoder().decode(readFd(outbound, 4)), "FROM");
  // Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC).
  const fdinfo = Deno.readTextFileSync(`/proc/self/fdinfo/${received.fd}`);
  const flags = parseInt(/flags:\s+(\d+)/.exec(fdinfo)![1], 8);
  assert.ok((flags & 0o2000000) !== 0, "O_CLOEXEC set on received fd");

  using back = createMemfd("to-client", 0);
  writeFd(back, encode("from the server"));
  await server.write(encode('{"fds":2}\n'), [back.fd, back.fd]);
  await within(clientSink.waitBytes(10), 5000, "client got line");
  assert.equal(clientSink.fds.length, 2);
  for (const h of clientSink.fds) {
    assert.equal(new TextDecoder().decode(readFd(h, 100)), "from the server");
  }
  serverSink.closeFds();
  clientSink.closeFds();
  client.close();
  server.close();
  await listener.close();
  await idle();
});

Deno.test("2,000 FD-carrying writes leak no descriptor", async () => {
  using dir = tempDir();
  const before = openFds();
  {
    const { listener, client, server } = await pair(`${dir.path}/many.sock`);
    let received = 0;
    let fdsReceived = 0;
    let done!: () => void;
    const allIn = new Promise<void>((r) => (done = r));
    const N = 2000;
    server.start({
      data(chunk, fds) {
        received += chunk.length;
        for (const h of fds ?? []) {
          fdsReceived++;
          assert.equal(readFd(h, 1)[0], 42);
          h.close();
        }
        if (received === N * 2) done();
      },
      closed() {},
    });
    collect(client);
    using memfd = createMemfd("many", 1);
    writeFd(memfd, new Uint8Array([42]));
    const pending: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      const p = client.write(encode("x\n"), [memfd.fd]);
      if (p) pending.push(p);
    }
    await Promise.all(pending);
    await within(allIn, 10000, "all writes received");
    assert.equal(fdsReceived, N);
    client.close();
    server.close();
    await listener.close();
  }
  await idle();
  assert.equal(openFds(), before, "same descriptor count after closing everything");
});

Deno.test("MSG_CTRUNC: too many descriptors for the receiver's limit are closed and signalled", async () => {
  using dir = tempDir();
  const before = openFds();
  {
    const { listener, client, server } = await pair(`${dir.path}/ctrunc.sock`, {
      maxFdsPerMessage: 2,
    });
    assert.equal((server as FfiConnection).maxFdsPerMessage, 2);
    const sink = collect(server);
    using memfd = createMemfd("ctrunc", 1);
    await client.write(encode("a\n"), [memfd.fd, memfd.fd, memfd.fd, memfd.fd, memfd.fd]);
    await within(sink.waitBytes(2), 5000, "line");
    assert.equal(sink.text(), "a\n");
    assert.equal(sink.truncations, 1);
    assert.equal((server as FfiConnection).fdsTruncated, 1);
    assert.equal(sink.fds.length, 0, "no handle delivered for a truncated message");
    // Within the limit: delivered normally, no new truncation.
    await client.write(encode("b\n"), [memfd.fd, memfd.fd]);
    await within(sink.waitBytes(4), 5000, "second line");
    assert.equal(sink.fds.length, 2);
    assert.equal((server as FfiConnection).fdsTruncated, 1);
    sink.closeFds();
    client.close();
    server.close();
    await listener.close();
  }
  await idle();
  assert.equal(openFds(), before, "the truncated message's descriptors were closed");
});

Deno.test("peer closes mid-message: partial bytes and fds delivered, sink.closed without error, no leak", async () => {
  using dir = tempDir();
  const before = openFds();
  let serverSink: Collector;
  {
    const { listener, client, server } = await pair(`${dir.path}/mid.sock`);
    serverSink = collect(server);
    using memfd = createMemfd("mid", 1);
    await client.write(encode('{"fds":1,"partial'), [memfd.fd]);
    client.close();
    await within(serverSink.closedPromise, 5000, "server sees close");
    assert.equal(serverSink.closedWith, undefined);
    assert.equal(serverSink.text(), '{"fds":1,"partial');
    assert.equal(serverSink.fds.length, 1);
    serverSink.closeFds(); // the owner closes what it received
    server.close();
    await listener.close();
  }
  await idle();
  assert.equal(openFds(), before);
});

Deno.test("writing to a closed peer fails with EPIPE/ECONNRESET, no crash", async () => {
  using dir = tempDir();
  const { listener, client, server } = await pair(`${dir.path}/epipe.sock`);
  const clientSink = collect(client);
  server.close();
  let error: (Error & { code?: string }) | undefined;
  // The first write after the peer closed may still succeed; keep writing until it fails.
  for (let i = 0; i < 100 && error === undefined; i++) {
    try {
      await client.write(encode("data\n"));
    } catch (e) {
      error = e as Error & { code?: string };
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(error, "a write failed");
  assert.ok(["EPIPE", "ECONNRESET"].includes(error.code!), `code ${error.code}`);
  await within(clientSink.closedPromise, 5000, "client closed");
  assert.equal(clientSink.closedCalls, 1);
  assert.throws(() => client.write(encode("again")));
  await listener.close();
  await idle();
});

Deno.test("passing a bad descriptor fails that write only", async () => {
  using dir = tempDir();
  const { listener, client, server } = await pair(`${dir.path}/badfd.sock`);
  const sink = collect(server);
  assert.throws(() => client.write(encode("x\n"), [987654]), { code: "EBADF" });
  await client.write(encode("ok\n"));
  await within(sink.waitBytes(3), 5000, "next write arrives");
  assert.equal(sink.text(), "ok\n");
  assert.throws(() => client.write(new Uint8Array(0), [0]), TypeError);
  client.close();
  server.close();
  await listener.close();
  await idle();
});

Deno.test("a large write with descriptors: the fds travel once, with the first bytes", async () => {
  using dir = tempDir();
  const { listener, client, server } = await pair(`${dir.path}/bigfd.sock`);
  const sink = collect(server);
  using memfd = createMemfd("big", 3);
  const size = 3 * 1024 * 1024;
  const big = new Uint8Array(size).map((_, i) => i % 251);
  const p = client.write(big, [memfd.fd]);
  assert.ok(p instanceof Promise);
  await p;
  await within(sink.waitBytes(size), 10000, "all bytes");
  assert.equal(sink.fds.length, 1, "exactly one descriptor arrived");
  assert.equal(fdSize(sink.fds[0]), 3);
  assert.deepEqual(sink.bytes(), big);
  sink.closeFds();
  client.close();
  server.close();
  await listener.close();
  await idle();
});

Deno.test("peer credentials and a throwing sink closes the connection with that error", async () => {
  using dir = tempDir();
  const { listener, client, server } = await pair(`${dir.path}/cred.sock`);
  const cred = (server as FfiConnection).peerCredentials();
  assert.equal(cred.pid, Deno.pid);
  assert.equal(cred.uid, Deno.uid());
  let closedWith: Error | undefined;
  const closed = new Promise<void>((resolve) => {
    server.start({
      data() {
        throw new Error("sink failed");
      },
      closed(error) {
        closedWith = error;
        resolve();
      },
    });
  });
  await client.write(encode("x\n"));
  await within(closed, 5000, "server closed");
  assert.equal(closedWith?.message, "sink failed");
  assert.equal((server as FfiConnection).closed, true);
  client.close();
  await listener.close();
  await idle();
});
