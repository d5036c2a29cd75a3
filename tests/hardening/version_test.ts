/**
 * Version: a client checks `protocol` from ping; a mismatch warns (onWarning) or, with
 * strictProtocol, rejects.
 */

import assert from "node:assert/strict";
import { PortError } from "../../sdk/ts/mod.ts";
import { CopperdClient } from "../../sdk/ts/services/copperd.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";
import { client, SOCKET_TEST, startServer } from "./_fixture.ts";

/** A fake server that answers every ping with protocol `protocol`. */
async function fakeServer(protocol: number) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/fake.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.UnixConn[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(65536);
        let text = "";
        try {
          for (;;) {
            const n = await conn.read(buf);
            if (n === null) break;
            text += new TextDecoder().decode(buf.subarray(0, n));
            let nl;
            while ((nl = text.indexOf("\n")) >= 0) {
              const req = JSON.parse(text.slice(0, nl));
              text = text.slice(nl + 1);
              const result = { name: "copperd", version: "9.0.0", protocol };
              await conn.write(
                new TextEncoder().encode(
                  JSON.stringify({ ok: true, id: req.id, result, ...result }) + "\n",
                ),
              );
            }
          }
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    path,
    async stop() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test(
  "version: protocol mismatch warns through onWarning by default",
  SOCKET_TEST,
  async () => {
    const fake = await fakeServer(1);
    const warnings: string[] = [];
    const c = await client(fake.path, { onWarning: (m) => warnings.push(m) });
    try {
      const r = await c.ping();
      assert.equal(r.protocol, 1);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /protocol 1/);
      assert.match(warnings[0], /speaks 0/);
      // Generated clients go through the same check.
      const typedWarnings: string[] = [];
      const typed = await CopperdClient.connect(fake.path, {
        platform: denoPlatform,
        onWarning: (m) => typedWarnings.push(m),
      });
      await typed.ping();
      assert.equal(typedWarnings.length, 1);
      await typed.close();
    } finally {
      await c.close();
      await fake.stop();
    }
  },
);

Deno.test(
  "version: strictProtocol refuses a server with another protocol",
  SOCKET_TEST,
  async () => {
    const fake = await fakeServer(1);
    const warnings: string[] = [];
    const c = await client(fake.path, { strictProtocol: true, onWarning: (m) => warnings.push(m) });
    try {
      await assert.rejects(c.ping(), (e: unknown) => {
        assert.ok(e instanceof PortError);
        assert.match(e.message, /protocol 1/);
        return true;
      });
      assert.equal(warnings.length, 0, "strict mode throws instead of warning");
    } finally {
      await c.close();
      await fake.stop();
    }
  },
);

Deno.test("version: a protocol-0 server passes silently, strict or not", SOCKET_TEST, async () => {
  const t = await startServer();
  const warnings: string[] = [];
  const c = await client(t.address, { strictProtocol: true, onWarning: (m) => warnings.push(m) });
  try {
    const r = await c.ping();
    assert.deepEqual(r, { name: "hardtest", version: "1.0.0", protocol: 0 });
    assert.deepEqual(warnings, []);
  } finally {
    await c.close();
    await t.stop();
  }
});
