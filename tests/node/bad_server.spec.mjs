/**
 * The Node client against a misbehaving server (a fake echo written on the package's raw
 * platforms, in this process): garbage lines, oversized lines, answers to unknown ids, responses
 * without `ok`, and descriptors that do not match their line. The client warns or fails the one
 * call with a typed ProtocolError, keeps the connection, and closes every descriptor it received.
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs and tests/node/prepare.mjs).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ProtocolError } from "../../dist/npm/mod.js";
import { createMemfd, nodeFfiPlatform, readFd, writeFd } from "../../dist/npm/node/index.js";
import { fdCount, LIB, LineReader, settleFds, tempDir } from "./helpers.mjs";

const { EchoClient } = await import(join(LIB, "echo.js"));
const enc = new TextEncoder();

/**
 * A fake echo server: `script(request)` returns what to write back, a list of
 * `[text, fds?]` (text without newline; fds: descriptor numbers to attach to that write).
 */
async function fakeServer(address, script) {
  const connections = [];
  const listener = await nodeFfiPlatform.listen(address, (conn) => {
    connections.push(conn);
    const reader = new LineReader();
    conn.start({
      data(chunk, fds) {
        for (const h of fds ?? []) h.close();
        reader.push(chunk);
        void reader.next(1, 0).then(async ([msg]) => {
          if (!msg) return;
          for (const [text, fds] of script(msg)) {
            const p = conn.write(enc.encode(text + "\n"), fds);
            if (p) await p;
          }
        });
      },
      closed() {
        conn.close();
      },
    });
  }, { fdPassing: true });
  return {
    async close() {
      for (const c of connections) c.close();
      await listener.close();
    },
  };
}

describe("Node client ← misbehaving server", () => {
  let tmp, memfd, server, address, warnings, client, base;
  before(async () => {
    tmp = tempDir();
    address = join(tmp.dir, "bad.sock");
    memfd = createMemfd("served", 0);
    writeFd(memfd, enc.encode("served bytes"));
    server = await fakeServer(address, (msg) => {
      const ok = (result, extra = {}) => JSON.stringify({ ok: true, id: msg.id, result, ...extra });
      switch (msg.args?.text ?? msg.cmd) {
        case "garbage":
          return [
            ["this is not json"],
            ["[1,2,3]"],
            ["x".repeat(70_000)],
            [JSON.stringify({ ok: true, id: 999_999, result: {} })],
            [JSON.stringify({ hello: "world" })],
            [ok({ text: "garbage" })],
          ];
        case "no-ok":
          return [[JSON.stringify({ id: msg.id, result: { text: "?" } })]];
        case "fdmake":
          return [[ok({ fd: { fd_index: 0 } }, { fds: 1 }), [memfd.fd]]];
        default:
          break;
      }
      if (msg.cmd === "fdsum") {
        // Claims 2 descriptors, attaches 1.
        return [[ok({ sum: 0, size: 0 }, { fds: 2 }), [memfd.fd]]];
      }
      if (msg.cmd === "add") {
        // fd_index out of range, with the one descriptor attached.
        return [[ok({ sum: { fd_index: 3 } }, { fds: 1 }), [memfd.fd]]];
      }
      return [[ok(msg.args ?? {})]];
    });
    base = fdCount();
    warnings = [];
    client = await EchoClient.connect(address, {
      onWarning: (m) => warnings.push(m),
      timeout: 3000,
    });
  });
  after(async () => {
    await client?.close();
    await server?.close();
    memfd?.close();
    tmp.cleanup();
  });

  test("garbage around a response: warnings, the call still succeeds", async () => {
    assert.deepEqual(await client.echo({ text: "garbage" }), { text: "garbage" });
    const all = warnings.join("\n");
    assert.match(all, /bad frame.*BAD_FRAME/i);
    assert.match(all, /TOO_LARGE/);
    assert.ok(warnings.length >= 4, all);
    assert.deepEqual(await client.echo({ text: "after" }), { text: "after" });
  });

  test("a response without ok fails that call with a ProtocolError", async () => {
    await assert.rejects(
      client.echo({ text: "no-ok" }),
      (e) => e instanceof ProtocolError && e.code === "BAD_FRAME",
    );
    assert.deepEqual(await client.echo({ text: "fine" }), { text: "fine" });
  });

  test("descriptors: a good one arrives; mismatched ones are BAD_FD and closed", async () => {
    const { fd } = await client.fdmake({ text: "fdmake" });
    assert.equal(new TextDecoder().decode(readFd(fd, 12)), "served bytes");
    fd.close();
    await assert.rejects(
      client.fdsum({ fd: memfd }),
      (e) => e instanceof ProtocolError && e.code === "BAD_FD",
    );
    await assert.rejects(
      client.add({ a: 1, b: 2 }),
      (e) => e instanceof ProtocolError && e.code === "BAD_FD",
    );
    assert.deepEqual(await client.echo({ text: "still" }), { text: "still" });
    await client.close();
    client = undefined;
    // Both ends of the connection are gone; every descriptor the client received was closed.
    assert.equal(await settleFds(base), base, "the client leaked descriptors");
  });
});
