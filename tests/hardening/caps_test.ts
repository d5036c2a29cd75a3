/**
 * Capabilities: a request without a token granting every capability its command declares is
 * answered DENIED and its handler never runs; reserved commands and cap-less commands need none.
 * Subscribing to an event that declares caps needs them the same way.
 */

import assert from "node:assert/strict";
import { RemoteError } from "../../sdk/ts/mod.ts";
import { CopperdClient } from "../../sdk/ts/services/copperd.ts";
import { CopperdServer } from "../../sdk/ts/services/copperd_server.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";
import { client, RawConn, SOCKET_TEST, startServer } from "./_fixture.ts";

const capabilities = {
  "tok-read": ["secret.read"],
  "tok-admin": ["admin.write"],
  "tok-all": ["*"],
};

async function denied(p: Promise<unknown>, cap: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RemoteError, String(e));
    assert.equal(e.code, "DENIED");
    assert.match(e.message, new RegExp(cap.replace(".", "\\.")));
    return true;
  });
}

Deno.test(
  "caps: missing, unknown or insufficient tokens are DENIED; sufficient ones pass",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ capabilities });
    const c = await client(t.address);
    try {
      await denied(c.request("secret"), "secret.read");
      await denied(c.request("secret", {}, { caps: "nope" }), "secret.read");
      await denied(c.request("secret", {}, { caps: "tok-admin" }), "secret.read");
      assert.deepEqual(await c.request("secret", {}, { caps: "tok-read" }), { secret: 42 });
      assert.deepEqual(await c.request("secret", {}, { caps: "tok-all" }), { secret: 42 });
      // admin needs admin.write AND secret.read
      await denied(c.request("admin", {}, { caps: "tok-admin" }), "secret.read");
      await denied(c.request("admin", {}, { caps: "tok-read" }), "admin.write");
      assert.deepEqual(await c.request("admin", {}, { caps: ["tok-admin", "tok-read"] }), {
        admin: true,
      });
      assert.deepEqual(await c.request("admin", {}, { caps: "tok-all" }), { admin: true });
      // No caps needed for cap-less and reserved commands.
      assert.deepEqual(await c.request("echo", { a: 1 }), { a: 1 });
      assert.equal((await c.ping()).protocol, 0);
    } finally {
      await c.close();
      await t.stop();
    }
  },
);

Deno.test(
  "caps: DENIED carries the request id, the handler never runs, the connection stays usable",
  SOCKET_TEST,
  async () => {
    let ran = 0;
    const dir = await Deno.makeTempDir();
    const address = `${dir}/copperd.sock`;
    const fail = () => {
      throw new Error("not used");
    };
    const server = await CopperdServer.serve({
      load: () => ({ id: ++ran }),
      start: fail,
      stop: fail,
      unload: fail,
      list: () => ({ programs: [] }),
      status: fail,
    }, {
      address,
      platform: denoPlatform,
      capabilities: { "tok-w": ["programs.write"], "tok-r": ["programs.read"] },
    });
    const raw = await RawConn.open(address);
    try {
      const program = { version: 1, program: [{ op: "WAIT", vsync: true }] };
      await raw.sendJson({ id: "a", cmd: "load", args: { program } });
      let m = await raw.readJson();
      assert.equal(m.id, "a");
      assert.equal((m.error as { code: string }).code, "DENIED");
      await raw.sendJson({ id: "b", cmd: "load", args: { program }, caps: "tok-r" });
      m = await raw.readJson();
      assert.equal((m.error as { code: string }).code, "DENIED");
      assert.equal(ran, 0, "handler must not run without the capability");
      await raw.sendJson({ id: "c", cmd: "load", args: { program }, caps: ["tok-r", "tok-w"] });
      m = await raw.readJson();
      assert.deepEqual(m, { ok: true, id: "c", result: { id: 1 } });
      await raw.sendJson({ id: "d", cmd: "list", caps: "tok-w" });
      assert.equal(((await raw.readJson()).error as { code: string }).code, "DENIED");
      // A caps field of the wrong type is BAD_ARG, not a bypass.
      await raw.sendJson({ id: "e", cmd: "list", caps: { token: "tok-r" } });
      assert.equal(((await raw.readJson()).error as { code: string }).code, "BAD_ARG");
      // The typed client passes the token.
      const typed = new CopperdClient(await client(address, { caps: "tok-r" }));
      assert.deepEqual(await typed.list({}), { programs: [] });
      await typed.close();
    } finally {
      raw.close();
      await server.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "caps: subscribing to an event that declares caps needs a token granting them",
  SOCKET_TEST,
  async () => {
    const t = await startServer({ capabilities });
    const c = await client(t.address);
    const allowed = await client(t.address);
    try {
      await denied(c.request("subscribe", { events: ["alarm"] }), "secret.read");
      await denied(
        c.request("subscribe", { events: ["alarm"] }, { caps: "tok-admin" }),
        "secret.read",
      );
      // One capped event makes the whole subscribe DENIED; nothing is half-subscribed.
      await denied(c.request("subscribe", { events: ["tick", "alarm"] }), "secret.read");
      assert.deepEqual(await c.request("emit", { count: 1, event: "tick" }), { queued: 0 });
      // Cap-less events need nothing.
      const tick = await c.request<{ sub: number }>("subscribe", { events: ["tick"] });
      assert.equal(typeof tick.sub, "number");
      // A token granting the capability (or "*") subscribes.
      const sub = allowed.subscribe(["alarm"], undefined, { caps: "tok-read" });
      const it = sub[Symbol.asyncIterator]();
      const first = it.next();
      assert.equal(typeof await sub.ready, "number");
      assert.deepEqual(await c.request("emit", { count: 1, event: "alarm" }), { queued: 1 });
      const ev = await first;
      assert.equal((ev.value as { event: string }).event, "alarm");
      await it.return?.();
      assert.equal(
        typeof (await c.request<{ sub: number }>("subscribe", { events: ["alarm"] }, {
          caps: "tok-all",
        })).sub,
        "number",
      );
    } finally {
      await c.close();
      await allowed.close();
      await t.stop();
    }
  },
);

Deno.test(
  "caps: without a capability table, capped events are open (v0 services)",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const c = await client(t.address);
    try {
      assert.equal(
        typeof (await c.request<{ sub: number }>("subscribe", { events: ["alarm"] })).sub,
        "number",
      );
    } finally {
      await c.close();
      await t.stop();
    }
  },
);
