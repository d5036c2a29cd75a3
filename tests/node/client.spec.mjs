/**
 * The Node client (the echo client generated with `--runtime @copperline/ports`, on the built
 * package) against echo served by Deno (tests/echo_main.ts) and by the Node stub in a child
 * process: typed calls, RemoteError codes, deadlines, abort, subscriptions as async iterators,
 * descriptors both ways, CLOSED, and no descriptor leaks in this process (/proc/self/fd).
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs and tests/node/prepare.mjs).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ClosedError, PortError, RemoteError, TimeoutError } from "../../dist/npm/mod.js";
import { createMemfd, fdSize, readFd, writeFd } from "../../dist/npm/node/index.js";
import { fdCount, LIB, settleFds, startDenoEcho, startNodeEchoChild, tempDir } from "./helpers.mjs";

const { EchoClient } = await import(join(LIB, "echo.js"));

test("runs under real Node 20+, not Deno's Node compatibility", () => {
  assert.equal(typeof globalThis.Deno, "undefined");
  assert.ok(Number(process.versions.node.split(".")[0]) >= 20, process.version);
});

const abstract = (tag) =>
  `@copperline-nodepkg/${tag}-${process.pid}-${Math.random().toString(36).slice(2)}`;

const servers = [
  ["Deno-served echo", startDenoEcho],
  ["Node-served echo (child process)", startNodeEchoChild],
  ["Deno-served echo on an abstract address", (_path) => startDenoEcho(abstract("deno"))],
];

for (const [name, start] of servers) {
  describe(`Node client → ${name}`, () => {
    let tmp, service, address, client;
    before(async () => {
      tmp = tempDir();
      address = join(tmp.dir, "echo.sock");
      service = await start(address);
      address = service.address ?? address;
      client = await EchoClient.connect(address);
    });
    after(async () => {
      await client?.close();
      await service?.stop();
      tmp.cleanup();
    });

    test("ping and typed calls", async () => {
      const pong = await client.ping();
      assert.deepEqual({ ...pong }, { name: "echo", version: "1.2.0", protocol: 0 });
      assert.deepEqual(await client.echo({ text: "héllo", n: 3, color: "red" }), {
        text: "héllo",
        n: 3,
        color: "red",
      });
      assert.deepEqual(await client.add({ a: 40, b: 2 }), { sum: 42 });
      const sums = await Promise.all(
        Array.from({ length: 300 }, (_, i) => client.add({ a: i, b: i })),
      );
      assert.deepEqual(sums.map((s) => s.sum), Array.from({ length: 300 }, (_, i) => 2 * i));
      assert.equal(client.port.inFlight, 0);
    });

    test("errors are typed RemoteErrors with the service's codes", async () => {
      const failWith = async (code) => {
        try {
          await client.fail({ code });
        } catch (e) {
          return e;
        }
        assert.fail(`fail(${code}) resolved`);
      };
      const teapot = await failWith("TEAPOT");
      assert.ok(teapot instanceof RemoteError && teapot instanceof PortError);
      assert.equal(teapot.code, "TEAPOT");
      assert.equal(teapot.cmd, "fail");
      assert.equal(teapot.message, "I am a teapot");
      assert.equal((await failWith("NOT_FOUND")).code, "NOT_FOUND");
      const internal = await failWith("INTERNAL");
      assert.equal(internal.code, "INTERNAL");
      assert.match(internal.message, /deliberate failure/);
      await assert.rejects(client.echo({ text: 5 }), (e) => {
        assert.ok(e instanceof RemoteError);
        assert.equal(e.code, "BAD_ARG");
        assert.deepEqual(e.data, { path: "/text" });
        return true;
      });
      await assert.rejects(client.port.request("ecko", {}), {
        name: "RemoteError",
        code: "BAD_CMD",
      });
      await assert.rejects(client.port.request("unsubscribe", { sub: 77 }), { code: "NOT_FOUND" });
      // The connection is still usable after every error.
      assert.deepEqual(await client.echo({ text: "still here" }), { text: "still here" });
    });

    test("deadlines and abort", async () => {
      const t0 = performance.now();
      await assert.rejects(client.slow({ ms: 5000 }, { timeout: 100 }), (e) => {
        assert.ok(e instanceof TimeoutError);
        assert.equal(e.code, "TIMEOUT");
        return true;
      });
      assert.ok(performance.now() - t0 < 2000, "the deadline fired late");
      const ac = new AbortController();
      const pending = client.slow({ ms: 5000 }, { signal: ac.signal });
      setTimeout(() => ac.abort(new PortError("CANCELLED", "stopped by the test")), 30);
      await assert.rejects(pending, { code: "CANCELLED" });
      assert.deepEqual(await client.slow({ ms: 5 }), { waited: 5 });
      assert.equal(client.port.inFlight, 0);
    });

    test("subscriptions: for await, filters, break unsubscribes", async () => {
      const sub = client.subscribe(["tick"], { tag: "a" });
      const id = await sub.ready;
      assert.ok(Number.isInteger(id) && id > 0);
      assert.deepEqual(await client.emit({ count: 3, tag: "a" }), { emitted: 3 });
      assert.deepEqual(await client.emit({ count: 2, tag: "b" }), { emitted: 0 }); // filtered by the server
      const seen = [];
      for await (const ev of sub) {
        assert.equal(ev.event, "tick");
        assert.equal(ev.sub, id);
        seen.push(ev.n);
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, [1, 2, 3]);
      assert.equal(sub.ended, true);
      // Leaving the loop unsubscribed on the server: nothing is queued any more.
      assert.deepEqual(await client.emit({ count: 1, tag: "a" }), { emitted: 0 });
      // An unknown event is a BAD_ARG from subscribe, surfaced by ready and by the iterator.
      const bad = client.subscribe(["tock"]);
      await assert.rejects(bad.ready, { code: "BAD_ARG" });
      await assert.rejects(async () => {
        for await (const _ of bad) assert.fail("an event of a failed subscription");
      }, { code: "BAD_ARG" });
    });

    test("descriptors both ways (memfds from the Node helpers), no leaks", async () => {
      const base = fdCount();
      for (let i = 0; i < 40; i++) {
        const bytes = new Uint8Array(1000 + i).map((_, j) => (j * 7 + i) & 0xff);
        const memfd = createMemfd(`node-${i}`, 0);
        assert.equal(writeFd(memfd, bytes), bytes.length);
        const expected = bytes.reduce((a, b) => a + b, 0);
        assert.deepEqual(await client.fdsum({ fd: memfd }), { sum: expected, size: bytes.length });
        assert.equal(memfd.closed, false, "a passed descriptor stays the sender's");
        memfd.close();

        const text = `made by ${name} #${i}`;
        const { fd } = await client.fdmake({ text });
        assert.equal(typeof fd.fd, "number");
        assert.equal(fdSize(fd), Buffer.byteLength(text));
        assert.equal(new TextDecoder().decode(readFd(fd, fdSize(fd))), text);
        fd.close();
        assert.equal(fd.closed, true);
      }
      assert.equal(await settleFds(base), base, "descriptors leaked in the client");
    });

    test("a bad descriptor argument is a BAD_FD/BAD_ARG error, not a crash", async () => {
      const base = fdCount();
      const closed = createMemfd("closed");
      closed.close();
      // A closed handle is refused before anything is sent (a TypeError naming the handle).
      await assert.rejects(
        () => Promise.resolve().then(() => client.fdsum({ fd: closed })),
        (e) => {
          assert.ok(e instanceof TypeError);
          assert.match(e.message, /closed/);
          return true;
        },
      );
      await assert.rejects(client.port.request("fdsum", { fd: 3 }), { code: "BAD_ARG" });
      await assert.rejects(client.port.request("fdsum", { fd: { fd_index: 0 } }), {
        code: "BAD_FD",
      });
      assert.deepEqual(await client.add({ a: 1, b: 1 }), { sum: 2 });
      assert.equal(await settleFds(base), base);
    });

    test("connections are not leaked: 30 connect/close cycles", async () => {
      const base = fdCount();
      for (let i = 0; i < 30; i++) {
        const c = await EchoClient.connect(address);
        assert.deepEqual(await c.add({ a: i, b: 1 }), { sum: i + 1 });
        await c.close();
      }
      assert.equal(await settleFds(base), base);
    });

    test("CLOSED: after close, and when the service goes away mid-call", async () => {
      const c = await EchoClient.connect(address);
      await c.close();
      await assert.rejects(
        c.echo({ text: "x" }),
        (e) => e instanceof ClosedError && e.code === "CLOSED",
      );
      const pending = assert.rejects(
        client.slow({ ms: 10_000 }),
        (e) => e instanceof ClosedError && e.code === "CLOSED",
      );
      await new Promise((r) => setTimeout(r, 50));
      service.child.kill("SIGKILL"); // the service crashes
      await pending;
    });
  });
}
