/**
 * Quotas: message size (TOO_LARGE, connection continues), per-connection rate limit, in-flight
 * limit, duplicate ids, the connection cap, and the FD quotas (per message, per connection).
 * Each test fails if its limit is not enforced.
 */

import assert from "node:assert/strict";
import { PortServer, RemoteError, type ServerDescriptor } from "../../sdk/ts/mod.ts";
import { client, RawConn, SOCKET_TEST, startServer, waitFor } from "./_fixture.ts";

type Msg = Record<string, unknown>;
const code = (m: Msg) => (m.error as { code?: string } | undefined)?.code;

Deno.test(
  "quota: a 70 KiB line gets TOO_LARGE (id null) and the next request on the connection works",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    try {
      const big = JSON.stringify({ id: 1, cmd: "echo", args: { pad: "x".repeat(70 * 1024) } });
      await raw.send(
        big + "\n" + JSON.stringify({ id: 2, cmd: "echo", args: { after: true } }) + "\n",
      );
      const m1 = await raw.readJson();
      assert.equal(m1.id, null);
      assert.equal(code(m1), "TOO_LARGE");
      assert.deepEqual(await raw.readJson(), { ok: true, id: 2, result: { after: true } });
      // The same, dribbled in 4 KiB writes, then a 200 KiB line: one TOO_LARGE each, no disconnect.
      const bytes = new TextEncoder().encode(big + "\n");
      for (let i = 0; i < bytes.length; i += 4096) await raw.send(bytes.subarray(i, i + 4096));
      assert.equal(code(await raw.readJson()), "TOO_LARGE");
      await raw.send("y".repeat(200 * 1024) + "\n" + JSON.stringify({ id: 3, cmd: "ping" }) + "\n");
      assert.equal(code(await raw.readJson()), "TOO_LARGE");
      const pong = await raw.readJson();
      assert.equal(pong.id, 3);
      assert.equal(pong.ok, true);
      // Exactly at the limit is fine: 65,536 bytes.
      const head = JSON.stringify({ id: 4, cmd: "echo", args: { p: "" } });
      const exact = head.replace('"p":""', `"p":"${"z".repeat(65536 - head.length)}"`);
      assert.equal(new TextEncoder().encode(exact).length, 65536);
      await raw.send(exact + "\n");
      const m4 = await raw.readJson();
      assert.equal(m4.ok, true, "a line of exactly 65,536 bytes is accepted");
      assert.equal(m4.id, 4);
      await raw.send(exact.replace('"p":"z', '"p":"zz') + "\n");
      assert.equal(code(await raw.readJson()), "TOO_LARGE", "65,537 bytes is too large");
      await raw.sendJson({ id: 5, cmd: "echo" });
      assert.equal((await raw.readJson()).ok, true);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);

Deno.test(
  "quota: a configured maxMessage is enforced and advertised in describe",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ maxMessage: 1024 });
    const raw = await RawConn.open(t.address);
    try {
      await raw.sendJson({ id: 1, cmd: "echo", args: { pad: "x".repeat(1100) } });
      assert.equal(code(await raw.readJson()), "TOO_LARGE");
      await raw.sendJson({ id: 2, cmd: "describe" });
      const d = await raw.readJson();
      assert.equal(((d.result as Msg).limits as Msg).maxMessage, 1024);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);

Deno.test(
  "quota: rate limit answers BUSY beyond the per-connection rate, other connections unaffected",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ rateLimit: 10 });
    const raw = await RawConn.open(t.address);
    const other = await client(t.address);
    try {
      let burst = "";
      for (let i = 1; i <= 40; i++) {
        burst += JSON.stringify({ id: i, cmd: "echo", args: { i } }) +
          "\n";
      }
      await raw.send(burst);
      let ok = 0, busy = 0;
      for (let i = 0; i < 40; i++) {
        const m = await raw.readJson();
        if (m.ok === true) ok++;
        else if (code(m) === "BUSY") {
          busy++;
          assert.match((m.error as { message: string }).message, /[Rr]ate limit/);
        }
      }
      assert.equal(ok + busy, 40, "every request answered");
      assert.ok(ok >= 10 && ok <= 12, `about 10 allowed in the burst, got ${ok}`);
      assert.ok(busy >= 28, `the rest BUSY, got ${busy}`);
      // Another connection has its own bucket.
      assert.deepEqual(await other.request("echo", { x: 1 }), { x: 1 });
      // Tokens refill: after 300 ms about 3 more pass.
      await new Promise((r) => setTimeout(r, 300));
      await raw.sendJson({ id: 100, cmd: "echo" });
      assert.equal((await raw.readJson()).ok, true);
    } finally {
      raw.close();
      await other.close();
      await t.stop();
    }
  },
);

Deno.test(
  "quota: maxInFlight answers BUSY for requests beyond the limit",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ maxInFlight: 4 });
    const raw = await RawConn.open(t.address);
    try {
      let lines = "";
      for (let i = 1; i <= 6; i++) lines += JSON.stringify({ id: i, cmd: "slow" }) + "\n";
      await raw.send(lines);
      const busy1 = await raw.readJson();
      const busy2 = await raw.readJson();
      assert.deepEqual([busy1.id, busy2.id].sort(), [5, 6]);
      assert.equal(code(busy1), "BUSY");
      assert.match((busy1.error as { message: string }).message, /in flight/);
      assert.equal(t.log.started.length, 4);
      // Cancel one: a new request fits again.
      await raw.sendJson({ id: 50, cmd: "cancel", args: { id: 1 } });
      const got: Msg[] = [await raw.readJson(), await raw.readJson()];
      assert.ok(got.some((m) => m.id === 1 && code(m) === "CANCELLED"));
      await raw.sendJson({ id: 7, cmd: "echo" });
      assert.equal((await raw.readJson()).ok, true);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);

Deno.test(
  "quota: a duplicate in-flight id is BUSY and not executed; the first is still answered",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    try {
      await raw.send(
        JSON.stringify({ id: 7, cmd: "slow", args: { ms: 150 } }) + "\n" +
          JSON.stringify({ id: 7, cmd: "slow", args: { ms: 10 } }) + "\n",
      );
      const dup = await raw.readJson();
      assert.equal(dup.id, 7);
      assert.equal(code(dup), "BUSY");
      assert.match((dup.error as { message: string }).message, /already in flight/);
      assert.equal(t.log.started.length, 1, "the duplicate is not executed");
      assert.deepEqual(await raw.readJson(), { ok: true, id: 7, result: { waited: 150 } });
      // Once answered, the id can be reused; string and integer ids do not collide.
      await raw.send(
        JSON.stringify({ id: 7, cmd: "echo" }) + "\n" + JSON.stringify({ id: "7", cmd: "echo" }) +
          "\n",
      );
      assert.equal((await raw.readJson()).ok, true);
      assert.equal((await raw.readJson()).ok, true);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);

Deno.test(
  "quota: maxConnections answers BUSY then closes; a slot frees when a client leaves",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ maxConnections: 3 });
    const clients = await Promise.all([1, 2, 3].map(() => client(t.address)));
    try {
      for (const c of clients) await c.ping();
      const extra = await RawConn.open(t.address);
      const m = await extra.readJson();
      assert.equal(m.id, null);
      assert.equal(code(m), "BUSY");
      assert.match((m.error as { message: string }).message, /Too many connections/);
      assert.ok(await extra.waitEof(), "the refused connection is closed");
      extra.close();
      assert.equal(t.server.sessions.size, 3);
      await clients.pop()!.close();
      assert.ok(await waitFor(() => t.server.sessions.size === 2));
      const again = await client(t.address);
      assert.equal((await again.ping()).protocol, 0);
      clients.push(again);
    } finally {
      for (const c of clients) await c.close();
      await t.stop();
    }
  },
);

// --- FD quotas (need the FFI transport for SCM_RIGHTS) ---------------------------------------------

const fdDescriptor: ServerDescriptor = {
  name: "fdtest",
  version: "1.0.0",
  protocol: 0,
  fdPassing: true,
  commands: { take: { fds: true }, keep: { fds: true }, hold: { fds: true } },
  events: {},
  schema: { service: "fdtest" },
  validateArgs: {},
};

async function fdServer(options: Record<string, number>) {
  const { ffiPlatform } = await import("../../sdk/ts/deno/ffi/mod.ts");
  const dir = await Deno.makeTempDir({ prefix: "clp-hard-fd-" });
  const address = `${dir}/fd.sock`;
  const kept: { close(): void }[] = [];
  const releases: (() => void)[] = [];
  const server = new PortServer(fdDescriptor, {
    take: (_a: unknown, ctx: { fds: readonly unknown[] }) => ({ n: ctx.fds.length }),
    hold: (_a: unknown, ctx: { fds: readonly unknown[] }) =>
      new Promise((resolve) => releases.push(() => resolve({ n: ctx.fds.length }))),
    keep: (_a: unknown, ctx: { fds: readonly { keep(): { close(): void } }[] }) => {
      for (const fd of ctx.fds) kept.push(fd.keep());
      return { n: ctx.fds.length };
    },
  }, { onError: () => {}, ...options });
  const listener = await ffiPlatform.listen(address, (c) => server.accept(c), { fdPassing: true });
  const c = await (await import("../../sdk/ts/mod.ts")).connect(address, {
    platform: ffiPlatform,
    fdPassing: true,
  });
  return {
    c,
    server,
    kept,
    releases,
    async memfds(n: number) {
      const { createMemfd } = await import("../../sdk/ts/deno/ffi/mod.ts");
      return Array.from({ length: n }, (_, i) => createMemfd(`q${i}`, 1));
    },
    async stop() {
      await c.close();
      for (const k of kept) k.close();
      await listener.close();
      await server.close(200);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

async function rejectsCode(p: Promise<unknown>, want: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, want);
    return true;
  });
}

Deno.test(
  "quota: more FDs in one message than maxFdsPerMessage is BAD_FD; the connection continues",
  SOCKET_TEST,
  async () => {
    const f = await fdServer({ maxFdsPerMessage: 4 });
    try {
      const four = await f.memfds(4);
      assert.deepEqual(await f.c.request("take", { fds: four }), { n: 4 });
      const five = await f.memfds(5);
      await rejectsCode(f.c.request("take", { fds: five }), "BAD_FD");
      for (const h of [...four, ...five]) h.close();
      const one = await f.memfds(1);
      assert.deepEqual(await f.c.request("take", { fds: one }), { n: 1 });
      one[0].close();
    } finally {
      await f.stop();
    }
  },
);

Deno.test(
  "quota: descriptors held by running handlers count against maxFdsPerConnection (BAD_FD over it)",
  SOCKET_TEST,
  async () => {
    const f = await fdServer({ maxFdsPerConnection: 6 });
    try {
      const a = await f.memfds(4);
      const held = f.c.request("hold", { fds: a });
      while (f.releases.length === 0) await new Promise((r) => setTimeout(r, 5));
      const b = await f.memfds(3);
      await rejectsCode(f.c.request("take", { fds: b }), "BAD_FD");
      const c2 = await f.memfds(2);
      assert.deepEqual(await f.c.request("take", { fds: c2 }), { n: 2 });
      f.releases.shift()!();
      assert.deepEqual(await held, { n: 4 });
      // Released with the handler: the quota is free again.
      assert.deepEqual(await f.c.request("take", { fds: b }), { n: 3 });
      for (const h of [...a, ...b, ...c2]) h.close();
    } finally {
      await f.stop();
    }
  },
);

// Regression: Session.keptFds used to only grow, so a connection whose handlers kept descriptors was
// eventually refused forever. Kept descriptors now belong to the service (PROTOCOL.md §7).
Deno.test({
  name: "quota: kept descriptors do not use up the connection's FD quota",
  ...SOCKET_TEST,
  async fn() {
    const f = await fdServer({ maxFdsPerConnection: 4 });
    try {
      const a = await f.memfds(4);
      assert.deepEqual(await f.c.request("keep", { fds: a }), { n: 4 });
      for (const k of f.kept.splice(0)) k.close();
      const b = await f.memfds(4);
      assert.deepEqual(await f.c.request("take", { fds: b }), { n: 4 });
      for (const h of [...a, ...b]) h.close();
    } finally {
      await f.stop();
    }
  },
});
