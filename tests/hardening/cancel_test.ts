/**
 * Cancel and deadlines: `cancel`, a client AbortSignal, a client timeout and a disconnect all
 * reach the handler as an aborted AbortSignal; the cancelled request is answered CANCELLED once.
 */

import assert from "node:assert/strict";
import { PortError, TimeoutError } from "../../sdk/ts/mod.ts";
import { client, nextStart, RawConn, SOCKET_TEST, startServer, waitFor } from "./_fixture.ts";

type Msg = Record<string, unknown>;
const code = (m: Msg) => (m.error as { code?: string } | undefined)?.code;

Deno.test(
  "cancel: the handler's signal fires, the request is answered CANCELLED exactly once",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    try {
      await raw.sendJson({ id: 1, cmd: "slow" });
      await raw.sendJson({ id: "x", cmd: "slow" });
      assert.ok(await waitFor(() => t.log.started.length === 2));
      await raw.sendJson({ id: 2, cmd: "cancel", args: { id: 1 } });
      const got = [await raw.readJson(), await raw.readJson()];
      const cancelled = got.find((m) => m.id === 1)!;
      assert.equal(code(cancelled), "CANCELLED");
      assert.deepEqual(got.find((m) => m.id === 2), {
        ok: true,
        id: 2,
        result: { cancelled: true },
      });
      assert.equal(t.log.aborted.get(1), "CANCELLED");
      assert.equal(t.log.aborted.has("x"), false, "only the target is cancelled");
      // Unknown or finished targets: cancelled false. An id-less cancel gets no answer.
      await raw.sendJson({ id: 3, cmd: "cancel", args: { id: 1 } });
      assert.deepEqual(await raw.readJson(), { ok: true, id: 3, result: { cancelled: false } });
      await raw.sendJson({ cmd: "cancel", args: { id: "x" } });
      const mx = await raw.readJson();
      assert.equal(mx.id, "x");
      assert.equal(code(mx), "CANCELLED");
      await raw.sendJson({ id: 4, cmd: "cancel", args: { id: { bad: 1 } } });
      assert.equal(code(await raw.readJson()), "BAD_ARG");
      await raw.sendJson({ id: 5, cmd: "echo" });
      assert.deepEqual(
        await raw.readJson(),
        { ok: true, id: 5, result: {} },
        "no second answer to a cancelled request",
      );
    } finally {
      raw.close();
      await t.stop();
    }
  },
);

Deno.test(
  "cancel: a client AbortSignal rejects the call and aborts the handler",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address);
    try {
      const ac = new AbortController();
      const started = nextStart(t.log);
      const p = c.request("slow", {}, { signal: ac.signal });
      const id = await started;
      ac.abort(new Error("user gave up"));
      await assert.rejects(p, /user gave up/);
      assert.ok(await waitFor(() => t.log.aborted.has(id)), "handler saw the abort");
      assert.equal(t.log.aborted.get(id), "CANCELLED");
      assert.equal(c.inFlight, 0);
      // An already-aborted signal never sends.
      const before = t.log.started.length;
      await assert.rejects(
        c.request("slow", {}, { signal: AbortSignal.abort(new Error("early")) }),
        /early/,
      );
      assert.equal(t.log.started.length, before);
      assert.deepEqual(await c.request("echo", { ok: 1 }), { ok: 1 });
    } finally {
      await c.close();
      await t.stop();
    }
  },
);

Deno.test(
  "cancel: a client timeout rejects with TimeoutError and aborts the handler",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address, { timeout: 80 });
    try {
      const started = nextStart(t.log);
      const t0 = performance.now();
      const p = c.request("slow");
      const id = await started;
      await assert.rejects(p, (e: unknown) => e instanceof TimeoutError && e.code === "TIMEOUT");
      const took = performance.now() - t0;
      assert.ok(took >= 75 && took < 1000, `timed out after ${took.toFixed(0)} ms`);
      assert.ok(
        await waitFor(() => t.log.aborted.get(id) === "CANCELLED"),
        "handler saw the abort",
      );
      // Per-call timeout overrides; 0 disables.
      assert.deepEqual(await c.request("slow", { ms: 150 }, { timeout: 0 }), { waited: 150 });
    } finally {
      await c.close();
      await t.stop();
    }
  },
);

Deno.test(
  "cancel: a disconnect aborts every handler of that client and only that client",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    const other = await client(t.address);
    try {
      const otherCall = other.request("slow", { ms: 300 });
      let lines = "";
      for (let i = 1; i <= 5; i++) lines += JSON.stringify({ id: i, cmd: "slow" }) + "\n";
      await raw.send(lines);
      assert.ok(await waitFor(() => t.log.started.length === 6));
      raw.close();
      assert.ok(await waitFor(() => t.log.aborted.size === 5), `aborted ${t.log.aborted.size}`);
      for (let i = 1; i <= 5; i++) assert.equal(t.log.aborted.get(i), "CANCELLED");
      assert.deepEqual(
        await otherCall,
        { waited: 300 },
        "the other client's request is unaffected",
      );
      assert.ok(await waitFor(() => t.server.sessions.size === 1));
    } finally {
      raw.close();
      await other.close();
      await t.stop();
    }
  },
);

Deno.test(
  "cancel: closing the client rejects pending calls with ClosedError and aborts their handlers",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address);
    try {
      const started = nextStart(t.log);
      const p = c.request("slow");
      const id = await started;
      const closing = c.close();
      await assert.rejects(p, (e: unknown) => e instanceof PortError && e.code === "CLOSED");
      await closing;
      assert.ok(await waitFor(() => t.log.aborted.has(id)));
    } finally {
      await t.stop();
    }
  },
);
