/**
 * Half-close (PROTOCOL.md §2): a client that shuts down its sending side, as `socat` does at the end
 * of its input, still gets the answers to the requests it sent; its subscriptions end; the server
 * closes once everything is answered. On both Deno transports (plain sockets and FFI).
 */

import assert from "node:assert/strict";
import { ffiPlatform } from "../../sdk/ts/deno/ffi/mod.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";
import type { Platform } from "../../sdk/ts/core/transport.ts";
import { client, nextStart, RawConn, SOCKET_TEST, startServer, waitFor } from "./_fixture.ts";

for (
  const [name, platform] of [["deno", denoPlatform], ["ffi", ffiPlatform]] as [string, Platform][]
) {
  Deno.test(
    `half-close (${name}): running requests are answered, then the server closes`,
    SOCKET_TEST,
    async () => {
      const t = await startServer({}, undefined, platform);
      const raw = await RawConn.open(t.address);
      try {
        await raw.send(
          JSON.stringify({ id: 1, cmd: "slow", args: { ms: 150 } }) + "\n" +
            JSON.stringify({ id: 2, cmd: "echo", args: { x: 1 } }) + "\n",
        );
        await nextStart(t.log);
        await raw.conn.closeWrite();
        assert.deepEqual(await raw.readJson(), { ok: true, id: 2, result: { x: 1 } });
        assert.deepEqual(await raw.readJson(), { ok: true, id: 1, result: { waited: 150 } });
        assert.equal(await raw.waitEof(), true, "the server closes after the last answer");
        assert.ok(await waitFor(() => t.server.sessions.size === 0, 2000));
        assert.equal(t.log.aborted.size, 0, "nothing was cancelled");
      } finally {
        raw.close();
        await t.stop();
      }
    },
  );

  Deno.test(`half-close (${name}): subscriptions end, no event follows`, SOCKET_TEST, async () => {
    const t = await startServer({}, undefined, platform);
    const raw = await RawConn.open(t.address);
    const other = await client(t.address);
    try {
      await raw.sendJson({ id: 1, cmd: "subscribe", args: { events: ["tick"] } });
      assert.equal((await raw.readJson()).ok, true);
      await raw.sendJson({ id: 2, cmd: "slow", args: { ms: 200 } }); // keeps the connection open
      await nextStart(t.log);
      await raw.conn.closeWrite();
      await new Promise((r) => setTimeout(r, 50));
      const r = await other.request<{ queued: number }>("emit", { count: 3 });
      assert.equal(r.queued, 0, "no subscriber left");
      assert.deepEqual(await raw.readJson(), { ok: true, id: 2, result: { waited: 200 } });
      assert.equal(await raw.waitEof(), true);
    } finally {
      raw.close();
      other.close();
      await t.stop();
    }
  });

  Deno.test(`half-close (${name}): a partial last line is discarded`, SOCKET_TEST, async () => {
    const t = await startServer({}, undefined, platform);
    const raw = await RawConn.open(t.address);
    try {
      await raw.send('{"id":1,"cmd":"echo","args":{}}\n{"id":2,"cmd":"ech');
      await raw.conn.closeWrite();
      assert.deepEqual(await raw.readJson(), { ok: true, id: 1, result: {} });
      assert.equal(await raw.readLine(), null, "no answer to the partial line, then EOF");
    } finally {
      raw.close();
      await t.stop();
    }
  });
}

for (
  const [name, platform] of [["deno", denoPlatform], ["ffi", ffiPlatform]] as [string, Platform][]
) {
  Deno.test(
    `half-close (${name}): a peer that then closes completely has its requests cancelled`,
    SOCKET_TEST,
    async () => {
      const t = await startServer({}, undefined, platform);
      const raw = await RawConn.open(t.address);
      try {
        await raw.sendJson({ id: 8, cmd: "slow" }); // never ends by itself
        await nextStart(t.log);
        await raw.conn.closeWrite();
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(t.server.sessions.size, 1, "half-closed: still answering");
        raw.close();
        assert.ok(await waitFor(() => t.log.aborted.get(8) === "CANCELLED", 2000));
        assert.ok(await waitFor(() => t.server.sessions.size === 0, 2000));
      } finally {
        raw.close();
        await t.stop();
      }
    },
  );
}
