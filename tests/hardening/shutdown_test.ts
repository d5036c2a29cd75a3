/**
 * Graceful shutdown and failure reporting: close() answers in-flight requests before closing,
 * refuses new connections (and, per PROTOCOL.md §6, new requests) with BUSY; a failing handler
 * is reported once through onError.
 */

import assert from "node:assert/strict";
import { ClosedError, PortServer, type ServerDescriptor } from "../../sdk/ts/mod.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";
import { client, RawConn, SOCKET_TEST, startServer, waitFor } from "./_fixture.ts";

Deno.test(
  "shutdown: close() answers in-flight requests, then closes connections; clients see CLOSED",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address);
    try {
      const inflight = [c.request("slow", { ms: 100 }), c.request("slow", { ms: 150 })];
      assert.ok(await waitFor(() => t.log.started.length === 2));
      const closing = t.server.close(2000);
      // A new connection during shutdown is refused with BUSY.
      const late = await RawConn.open(t.address);
      const m = await late.readJson();
      assert.equal((m.error as { code: string }).code, "BUSY");
      assert.match((m.error as { message: string }).message, /shutting down/);
      late.close();
      assert.deepEqual(await Promise.all(inflight), [{ waited: 100 }, { waited: 150 }]);
      await closing;
      await c.closed;
      await assert.rejects(c.request("echo"), ClosedError);
    } finally {
      await c.close();
      await t.stop();
    }
  },
);

Deno.test(
  "shutdown: handlers still running at the close() deadline are aborted",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address);
    try {
      const p = c.request("slow");
      assert.ok(await waitFor(() => t.log.started.length === 1));
      await t.server.close(50);
      await assert.rejects(p, ClosedError);
      assert.ok(await waitFor(() => t.log.aborted.size === 1));
    } finally {
      await c.close();
      await t.stop();
    }
  },
);

// GAP (ignored until fixed): during close() the server keeps dispatching new requests that arrive on
// already-open connections, so shutdown can be prolonged indefinitely by a busy client, and those
// requests may be cut off unanswered at the deadline. PROTOCOL.md §6 lists "server shutting down"
// under BUSY. Fix in sdk/ts/core/server.ts: expose the closing flag (e.g. `get closing()` on
// PortServer) and, at the top of PortServer._dispatch (after the reserved "cancel"/"ping" cases, or
// before everything except cancel), answer `BUSY "The server is shutting down"` when closing.
Deno.test({
  name: "shutdown: a request sent on an open connection during close() is answered BUSY",
  ...SOCKET_TEST,
  async fn() {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    try {
      await raw.sendJson({ id: 1, cmd: "slow", args: { ms: 150 } });
      assert.ok(await waitFor(() => t.log.started.length === 1));
      const closing = t.server.close(2000);
      await raw.sendJson({ id: 2, cmd: "slow", args: { ms: 10 } });
      const first = await raw.readJson();
      assert.equal(first.id, 2);
      assert.equal((first.error as { code: string }).code, "BUSY");
      assert.equal((await raw.readJson()).id, 1);
      await closing;
    } finally {
      raw.close();
      await t.stop();
    }
  },
});

const failDescriptor: ServerDescriptor = {
  name: "failing",
  version: "1.0.0",
  protocol: 0,
  commands: { boom: {} },
  events: {},
  schema: {},
  validateArgs: {},
};

// Regression: Session.#finish used `onError?.(...) ?? console.error(...)`, which logged twice
// whenever onError returned undefined.
Deno.test({
  name: "handler failure: reported once through onError, not also to console.error",
  ...SOCKET_TEST,
  async fn() {
    const seen: unknown[] = [];
    const server = new PortServer(failDescriptor, {
      boom: () => {
        throw new Error("kaboom");
      },
    }, {
      onError: (e) => {
        seen.push(e); // returns undefined, like any void logger
      },
    });
    const dir = await Deno.makeTempDir();
    const listener = await denoPlatform.listen(`${dir}/f.sock`, (c) => server.accept(c));
    const original = console.error;
    let consoleCalls = 0;
    console.error = () => void consoleCalls++;
    try {
      const c = await client(`${dir}/f.sock`);
      await assert.rejects(c.request("boom"), /kaboom/);
      await c.close();
      assert.equal(seen.length, 1);
      assert.equal(consoleCalls, 0);
    } finally {
      console.error = original;
      await listener.close();
      await server.close(100);
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("handler failure: INTERNAL answer, the server keeps serving", SOCKET_TEST, async () => {
  const server = new PortServer(failDescriptor, {
    boom: () => {
      throw new Error("kaboom");
    },
  }, { onError: () => {} });
  const dir = await Deno.makeTempDir();
  const listener = await denoPlatform.listen(`${dir}/f.sock`, (c) => server.accept(c));
  const original = console.error;
  console.error = () => {};
  try {
    const c = await client(`${dir}/f.sock`);
    await assert.rejects(
      c.request("boom"),
      (e: Error & { code?: string }) => e.code === "INTERNAL",
    );
    assert.equal((await c.ping()).name, "failing");
    await c.close();
  } finally {
    console.error = original;
    await listener.close();
    await server.close(100);
    await Deno.remove(dir, { recursive: true });
  }
});
