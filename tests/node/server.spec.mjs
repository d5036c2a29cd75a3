/**
 * The Node-served echo stub (generated EchoServer + Node handlers, in this process): a Deno client
 * (tests/node/deno_client.ts) and a Node client talk to it, and bad input — malformed lines,
 * oversized lines, stray, missing and excess descriptors, abrupt disconnects with requests in
 * flight — gets typed errors without crashing it or leaking descriptors (/proc/self/fd).
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs and tests/node/prepare.mjs).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { RemoteError } from "../../dist/npm/mod.js";
import { createMemfd, nodeFfiPlatform, readFd, writeFd } from "../../dist/npm/node/index.js";
import {
  DENO,
  fdCount,
  LIB,
  rawFfi,
  rawNet,
  ROOT,
  run,
  settleFds,
  sleep,
  tempDir,
} from "./helpers.mjs";

const { EchoClient } = await import(join(LIB, "echo.js"));
const { startNodeEcho } = await import(join(LIB, "echo_node.js"));

describe("Node-served echo stub", () => {
  let tmp, server, address, base, listening;
  before(async () => {
    tmp = tempDir();
    address = join(tmp.dir, "echo.sock");
    base = fdCount();
    server = await startNodeEcho(address);
    listening = fdCount();
  });
  after(async () => {
    await server?.close();
    tmp.cleanup();
  });

  test("a Deno client: typed calls, errors, deadline, subscription, descriptors both ways", async () => {
    const before = fdCount();
    const r = await run(DENO, ["run", "-A", join(ROOT, "tests/node/deno_client.ts"), address], {
      timeoutMs: 60_000,
    });
    assert.equal(r.code, 0, `deno client failed:\n${r.stdout}\n${r.stderr}`);
    for (
      const check of ["ping", "typed calls", "errors", "deadline", "subscription", "descriptors"]
    ) {
      assert.ok(r.stdout.includes(`ok ${check}\n`), `missing "ok ${check}" in\n${r.stdout}`);
    }
    assert.match(r.stdout, /\ndone\n$/);
    // The server closed the Deno client's connection and every descriptor it received.
    assert.equal(await settleFds(before), before, "descriptors leaked in the Node server");
  });

  test("a Deno client reaches a Node-served stub on an abstract @address (exact-length name)", async () => {
    const abstract = `@copperline-nodepkg/srv-${process.pid}-${
      Math.random().toString(36).slice(2)
    }`;
    const second = await startNodeEcho(abstract);
    try {
      assert.deepEqual(second.addresses, [abstract]);
      const r = await run(DENO, ["run", "-A", join(ROOT, "tests/node/deno_client.ts"), abstract], {
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `deno client failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /ok descriptors\ndone\n$/);
    } finally {
      await second.close();
    }
  });

  test("a Node client in the same process, with descriptors", async () => {
    const before = fdCount();
    const client = await EchoClient.connect(address);
    assert.deepEqual(await client.add({ a: 20, b: 22 }), { sum: 42 });
    const memfd = createMemfd("same-process", 0);
    writeFd(memfd, new Uint8Array([200, 100, 55]));
    assert.deepEqual(await client.fdsum({ fd: memfd }), { sum: 355, size: 3 });
    memfd.close();
    const { fd } = await client.fdmake({ text: "node to node" });
    assert.equal(new TextDecoder().decode(readFd(fd, 12)), "node to node");
    fd.close();
    await assert.rejects(
      client.fail({ code: "TEAPOT" }),
      (e) => e instanceof RemoteError && e.code === "TEAPOT",
    );
    await client.close();
    assert.equal(await settleFds(before), before);
  });

  test("bad frames on a plain node:net connection: typed errors, the connection keeps working", async () => {
    const c = await rawNet(address);
    c.send('{"id":1,"cmd":');
    c.send(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]));
    c.send("[1,2]");
    c.send("x".repeat(70_000));
    c.send('{"id":2,"cmd":"echo","args":{"text":"after"}}');
    const got = await c.next(5);
    assert.deepEqual(got.map((m) => m.error?.code ?? "ok"), [
      "BAD_FRAME",
      "BAD_FRAME",
      "BAD_FRAME",
      "TOO_LARGE",
      "ok",
    ]);
    assert.deepEqual(got[4], { ok: true, id: 2, result: { text: "after" } });
    // 1 MiB without a newline is discarded without buffering, then the line after it is served.
    c.writeRaw(Buffer.alloc(1 << 20, 0x61));
    c.send("");
    c.send('{"id":3,"cmd":"ping"}');
    const [big, pong] = await c.next(2);
    assert.equal(big.error.code, "TOO_LARGE");
    assert.equal(pong.id, 3);
    assert.equal(pong.result.name, "echo");
    c.close();
  });

  test("stray, missing, out-of-range and excess descriptors, FD quota: BAD_FD, all closed", async () => {
    const before = fdCount();
    const memfds = Array.from({ length: 90 }, (_, i) => {
      const h = createMemfd(`bad-${i}`, 0);
      writeFd(h, new Uint8Array([(i % 250) + 1]));
      return h;
    });
    const fd = (i) => memfds[i].fd;
    const one = async (lines) => {
      const c = await rawFfi(address, nodeFfiPlatform);
      for (const [text, fds] of lines) await c.send(text, fds);
      const got = await c.next(lines.length);
      c.close();
      assert.equal(got.length, lines.length, JSON.stringify(got));
      return Object.fromEntries(got.map((m) => [m.id, m]));
    };
    // Stray descriptors (attached to a line that claims none) stay queued, FIFO: the next line
    // that claims one gets the oldest (PROTOCOL.md §7).
    let r = await one([
      ['{"id":1,"cmd":"echo","args":{"text":"stray"}}', [fd(0), fd(1)]],
      ['{"id":2,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":0}}}', [fd(2)]],
    ]);
    assert.deepEqual(r[1].result, { text: "stray" });
    assert.deepEqual(r[2].result, { sum: 1, size: 1 });
    // A line claiming more descriptors than arrived.
    r = await one([['{"id":3,"cmd":"fdsum","fds":2,"args":{"fd":{"fd_index":0}}}', [fd(3)]]]);
    assert.equal(r[3].error.code, "BAD_FD");
    assert.match(r[3].error.message, /claims 2 descriptors/);
    // fd_index out of range.
    r = await one([['{"id":4,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":4}}}', [fd(4)]]]);
    assert.equal(r[4].error.code, "BAD_FD");
    assert.match(r[4].error.message, /fd_index 4 is out of range/);
    // More descriptors than one message may carry (16); they are all dropped, the next line is fine.
    r = await one([
      [
        '{"id":5,"cmd":"fdsum","fds":17,"args":{"fd":{"fd_index":0}}}',
        memfds.slice(5, 22).map((h) => h.fd),
      ],
      ['{"id":6,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":0}}}', [fd(22)]],
    ]);
    assert.equal(r[5].error.code, "BAD_FD");
    assert.match(r[5].error.message, /over the limit of 16/);
    assert.deepEqual(r[6].result, { sum: 23, size: 1 });
    // Over the per-connection quota (64 held): 5 × 14 stray descriptors, then the next claiming
    // line is BAD_FD (queue out of step, emptied) and the one after it is served with its own.
    const lines = [];
    for (let k = 0; k < 5; k++) {
      lines.push([
        `{"id":${10 + k},"cmd":"echo","args":{"text":"q${k}"}}`,
        memfds.slice(23 + 14 * k, 37 + 14 * k).map((h) => h.fd),
      ]);
    }
    lines.push(['{"id":20,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":0}}}', [fd(88)]]);
    lines.push(['{"id":21,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":0}}}', [fd(89)]]);
    r = await one(lines);
    for (let k = 0; k < 5; k++) assert.deepEqual(r[10 + k].result, { text: `q${k}` });
    assert.equal(r[20].error.code, "BAD_FD");
    assert.deepEqual(r[21].result, { sum: 90, size: 1 });
    for (const h of memfds) h.close();
    // Every descriptor the server received was closed with its line or its connection.
    assert.equal(await settleFds(before), before, "descriptors leaked");
  });

  test("abrupt disconnects with requests, subscriptions and descriptors in flight", async () => {
    const before = fdCount();
    for (let i = 0; i < 40; i++) {
      const c = await rawFfi(address, nodeFfiPlatform);
      const h = createMemfd(`gone-${i}`, 0);
      await c.send('{"id":1,"cmd":"subscribe","args":{"events":["tick"]}}');
      await c.send('{"id":2,"cmd":"slow","args":{"ms":2000}}');
      await c.send('{"id":3,"cmd":"fdsum","fds":1,"args":{"fd":{"fd_index":0}}}', [h.fd]);
      if (i % 2) await c.send('{"id":4,"cmd":"echo","args":{"text":"half a li', []);
      h.close();
      c.close();
    }
    // Still serving, with nothing left behind: the 40 subscriptions end with their connections.
    const client = await EchoClient.connect(address);
    let emitted = -1;
    for (let i = 0; i < 100 && emitted !== 0; i++) {
      if (i > 0) await sleep(20);
      ({ emitted } = await client.emit({ count: 1 }));
    }
    assert.equal(emitted, 0, "subscriptions of closed connections remain");
    assert.deepEqual(await client.echo({ text: "alive" }), { text: "alive" });
    await client.close();
    assert.equal(await settleFds(before), before, "descriptors leaked");
  });

  test("after all of the above the process holds what it held right after listening", async () => {
    assert.equal(await settleFds(listening), listening);
    // Listening took a socket (and the FFI reactor's epoll + eventfd): a handful at most.
    assert.ok(
      listening - base >= 1 && listening - base <= 4,
      `listening took ${listening - base} descriptors`,
    );
  });
});
