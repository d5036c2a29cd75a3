/**
 * Half-close on Node (PROTOCOL.md §2), served by both Node platforms (node:net and the koffi FFI
 * transport): a client that shuts down its sending side still gets the answers to what it sent,
 * its subscriptions end, and the server closes once everything is answered.
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs).
 */

import assert from "node:assert/strict";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PortServer } from "../../dist/npm/mod.js";
import { nodeFfiPlatform, nodePlatform } from "../../dist/npm/node/index.js";
import { LineReader, sleep, tempDir } from "./helpers.mjs";

const descriptor = {
  name: "halfclose",
  version: "1.0.0",
  protocol: 0,
  commands: { echo: {}, slow: {}, hang: {}, emit: {} },
  events: { tick: {} },
  schema: { service: "halfclose", version: "1.0.0", protocol: 0 },
  validateArgs: {},
};

/** A raw node:net client that can half-close (`end()`) and keep reading. */
async function halfOpenClient(path) {
  const socket = net.createConnection({ path, allowHalfOpen: true });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reader = new LineReader();
  let ended = false;
  socket.on("data", (d) => reader.push(d));
  const closedByServer = new Promise((resolve) => socket.on("end", () => ((ended = true), resolve(true))));
  return {
    send: (obj) => socket.write(JSON.stringify(obj) + "\n"),
    writeRaw: (text) => socket.write(text),
    halfClose: () => socket.end(),
    next: (n, ms) => reader.next(n, ms),
    /** Whether the server ended its side within `ms`. */
    serverEnded: (ms = 2000) => Promise.race([closedByServer, sleep(ms).then(() => ended)]),
    destroy: () => socket.destroy(),
  };
}

for (const [name, platform] of [["node:net", nodePlatform], ["koffi FFI", nodeFfiPlatform]]) {
  describe(`half-close, served by ${name}`, () => {
    let tmp, server, listener, address;
    const started = [];
    const aborted = [];
    before(async () => {
      tmp = tempDir();
      address = join(tmp.dir, "hc.sock");
      server = new PortServer(descriptor, {
        echo: (args) => args,
        slow: ({ ms }) => {
          started.push(ms);
          return new Promise((resolve) => setTimeout(() => resolve({ waited: ms }), ms));
        },
        hang: (_args, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener("abort", () => {
              aborted.push(ctx.id);
              reject(ctx.signal.reason);
            });
          }),
        emit: ({ count }) => {
          let queued = 0;
          for (let i = 0; i < count; i++) queued += server.emit("tick", { n: i });
          return { queued };
        },
      }, { onError: () => {} });
      listener = await platform.listen(address, (c) => server.accept(c), {
        fdPassing: platform === nodeFfiPlatform,
      });
    });
    after(async () => {
      await listener?.close();
      await server?.close(500);
      tmp.cleanup();
    });

    test("running requests are answered, then the server closes", async () => {
      const c = await halfOpenClient(address);
      c.send({ id: 1, cmd: "slow", args: { ms: 150 } });
      c.send({ id: 2, cmd: "echo", args: { x: 1 } });
      await sleep(30);
      c.halfClose();
      const got = await c.next(2, 3000);
      assert.deepEqual(got, [
        { ok: true, id: 2, result: { x: 1 } },
        { ok: true, id: 1, result: { waited: 150 } },
      ]);
      assert.equal(await c.serverEnded(), true, "the server closes after the last answer");
      c.destroy();
      for (let i = 0; i < 100 && server.sessions.size > 0; i++) await sleep(10);
      assert.equal(server.sessions.size, 0);
    });

    test("subscriptions end at the half-close; a partial last line is discarded", async () => {
      const c = await halfOpenClient(address);
      c.send({ id: 1, cmd: "subscribe", args: { events: ["tick"] } });
      assert.equal((await c.next(1))[0].ok, true);
      c.send({ id: 2, cmd: "slow", args: { ms: 200 } });
      c.writeRaw('{"id":3,"cmd":"ech');
      await sleep(30);
      c.halfClose();
      await sleep(50);
      const other = await halfOpenClient(address);
      other.send({ id: 9, cmd: "emit", args: { count: 3 } });
      assert.deepEqual(await other.next(1), [{ ok: true, id: 9, result: { queued: 0 } }]);
      other.destroy();
      assert.deepEqual(await c.next(5, 1000), [{ ok: true, id: 2, result: { waited: 200 } }]);
      assert.equal(await c.serverEnded(), true);
      c.destroy();
    });

    test("a peer that then closes completely has its running requests cancelled", async () => {
      const c = await halfOpenClient(address);
      c.send({ id: 5, cmd: "hang" });
      await sleep(30);
      c.halfClose();
      await sleep(50);
      assert.equal(server.sessions.size, 1, "half-closed: still answering");
      c.destroy();
      for (let i = 0; i < 200 && !aborted.includes(5); i++) await sleep(10);
      assert.deepEqual(aborted, [5]);
      for (let i = 0; i < 100 && server.sessions.size > 0; i++) await sleep(10);
      assert.equal(server.sessions.size, 0);
    });
  });
}
