/** Tests of the `node:net` platform (`node --test`), real sockets in a temporary directory. */

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Connection, Listener } from "../core/transport.ts";
import { nodePlatform } from "./net_platform.ts";
import { Collector, encode, sleep, tempDir, timeout, writeAll } from "./testing.ts";

let tmp: { dir: string; cleanup: () => void };
before(() => {
  tmp = tempDir();
});
after(() => tmp.cleanup());
let seq = 0;
const pathAddress = (tag: string) => join(tmp.dir, `${tag}-${seq++}.sock`);

async function pair(address: string): Promise<{ client: Connection; server: Connection; listener: Listener }> {
  let resolveServer!: (c: Connection) => void;
  const accepted = new Promise<Connection>((r) => (resolveServer = r));
  const listener = await nodePlatform.listen(address, (c) => resolveServer(c));
  const client = await nodePlatform.connect(address);
  const server = await timeout(accepted, 5000, "accept");
  return { client, server, listener };
}

describe("node:net platform", () => {
  test("name and env", () => {
    assert.equal(nodePlatform.name, "node");
    process.env.CLP_NODE_TEST_ENV = "x";
    assert.equal(nodePlatform.env("CLP_NODE_TEST_ENV"), "x");
    assert.equal(nodePlatform.env("CLP_NODE_TEST_ENV_ABSENT"), undefined);
  });

  test("byte round trip on a path socket, mode 0660, close unlinks", async () => {
    const address = pathAddress("rt");
    const { client, server, listener } = await pair(address);
    assert.equal(statSync(address).mode & 0o777, 0o660);
    assert.equal(client.fdPassing, false);
    server.start({ data: (chunk) => void server.write(chunk), closed() {} });
    const sink = new Collector();
    client.start(sink);
    const msg = encode(`{"cmd":"ping"}\n`);
    await writeAll(client, msg);
    await writeAll(client, msg);
    await sink.until(2 * msg.length);
    assert.equal(sink.text(), `{"cmd":"ping"}\n`.repeat(2));
    assert.ok(sink.chunks.every((c) => c instanceof Uint8Array));
    client.close();
    client.close();
    assert.equal(await sink.closedPromise, undefined);
    await listener.close();
    assert.throws(() => statSync(address), { code: "ENOENT" });
    // Existing connections outlive the listener.
  });

  test("listen with a custom mode and group", async () => {
    const address = pathAddress("mode");
    const gid = process.getgid!();
    const listener = await nodePlatform.listen(address, () => {}, { mode: 0o600, gid });
    assert.equal(statSync(address).mode & 0o777, 0o600);
    assert.equal(statSync(address).gid, gid);
    await listener.close();
  });

  test("missing socket: a clear error with a code", async () => {
    const address = join(tmp.dir, "nobody.sock");
    await assert.rejects(nodePlatform.connect(address), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, "ENOENT");
      assert.equal(e.syscall, "connect");
      assert.match(e.message, /nobody\.sock/);
      return true;
    });
  });

  test("stale socket replaced, live one not stolen", async () => {
    const address = pathAddress("stale");
    // Leave a stale socket file behind: a server whose handle is closed without unlinking is
    // hard to get from node:net, so bind one with a raw socket in a child and kill it.
    const { spawnSync } = await import("node:child_process");
    const r = spawnSync("python3", ["-c", `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(address)})`]);
    if (r.status !== 0) {
      // No python3: make one with node:net and SIGKILL.
      const child = spawnSync(process.execPath, [
        "-e",
        `require("net").createServer().listen(${JSON.stringify(address)}, () => process.kill(process.pid, "SIGKILL"))`,
      ]);
      assert.equal(child.signal, "SIGKILL");
    }
    assert.ok(statSync(address).isSocket());
    const first = await nodePlatform.listen(address, (c) => c.start({ data: (b) => void c.write(b), closed() {} }));
    await assert.rejects(nodePlatform.listen(address, () => {}), (e: NodeJS.ErrnoException) => {
      assert.equal(e.code, "EADDRINUSE");
      assert.match(e.message, /live server/);
      return true;
    });
    const c = await nodePlatform.connect(address);
    const sink = new Collector();
    c.start(sink);
    await writeAll(c, encode("still served\n"));
    await sink.until(13);
    c.close();
    await first.close();
  });

  test("a file that is not a socket is never replaced", async () => {
    const address = pathAddress("file");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(address, "data");
    await assert.rejects(nodePlatform.listen(address, () => {}), { code: "EADDRINUSE" });
    assert.ok(statSync(address).isFile());
  });

  test("abstract addresses and descriptor passing are refused with a pointer to the FFI platform", async () => {
    await assert.rejects(nodePlatform.connect("@copperline/x"), /nodeFfiPlatform/);
    await assert.rejects(nodePlatform.listen("@copperline/x", () => {}), /nodeFfiPlatform/);
    await assert.rejects(nodePlatform.connect(pathAddress("fd"), { fdPassing: true }), /descriptors/);
  });

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

  test("write to a closed connection fails with EPIPE", async () => {
    const { client, server, listener } = await pair(pathAddress("epipe"));
    const sink = new Collector();
    client.start(sink);
    server.start(new Collector());
    server.close();
    await sink.closedPromise;
    assert.throws(() => client.write(encode("x\n")), { code: "EPIPE" });
    await listener.close();
  });

  test("a multi-megabyte write to a slow reader arrives intact (drain respected)", async () => {
    const { client, server, listener } = await pair(pathAddress("big"));
    const size = 8 * 1024 * 1024 + 77;
    const big = new Uint8Array(size);
    for (let i = 0; i < size; i++) big[i] = (i * 7 + (i >>> 11)) & 0xff;
    const pending = client.write(big);
    assert.ok(pending instanceof Promise, "node:net asked to wait for drain");
    await sleep(200);
    const sink = new Collector();
    server.start(sink);
    await pending;
    await sink.until(size, 20_000);
    assert.deepEqual(sink.bytes(), big);
    client.close();
    await sink.closedPromise;
    await listener.close();
  });

  test("connect honours an aborted signal", async () => {
    const ac = new AbortController();
    ac.abort(new Error("stop"));
    await assert.rejects(nodePlatform.connect(pathAddress("abort"), { signal: ac.signal }), /stop/);
  });

  test("ref(false) unrefs the socket", async () => {
    const { client, server, listener } = await pair(pathAddress("ref"));
    client.ref!(false);
    client.ref!(true);
    client.close();
    server.close();
    await listener.close();
  });
});
