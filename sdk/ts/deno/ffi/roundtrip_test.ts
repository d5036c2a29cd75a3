import assert from "node:assert/strict";
import type { Connection } from "../../core/transport.ts";
import { ffiPlatform } from "./mod.ts";
import { abstractAddress, collect, Collector, encode, idle, tempDir, within } from "./test_util.ts";

/** Echo server: writes back whatever arrives. Returns the accepted connections' collectors. */
async function echoServer(address: string) {
  const accepted: Connection[] = [];
  const listener = await ffiPlatform.listen(address, (conn) => {
    accepted.push(conn);
    conn.start({
      data(chunk) {
        const p = conn.write(chunk);
        if (p) p.catch(() => {});
      },
      closed() {
        conn.close();
      },
    });
  });
  return { listener, accepted };
}

async function roundTrip(address: string) {
  const { listener, accepted } = await echoServer(address);
  const client = await ffiPlatform.connect(address);
  assert.equal(client.fdPassing, true);
  const sink = collect(client);
  const message = "hello\n".repeat(1000) + "é∑\n";
  const bytes = encode(message);
  await client.write(bytes);
  await within(sink.waitBytes(bytes.length), 5000, "echo");
  assert.equal(sink.text(), message);
  client.close();
  await within(sink.closedPromise, 5000, "client closed");
  assert.equal(sink.closedWith, undefined);
  assert.equal(sink.closedCalls, 1);
  await listener.close();
  for (const c of accepted) c.close();
  await idle();
}

Deno.test("round trip over a path socket", async () => {
  using dir = tempDir();
  await roundTrip(`${dir.path}/echo.sock`);
});

Deno.test("round trip over an abstract socket (exact-length name)", async () => {
  const address = abstractAddress("echo");
  await roundTrip(address);
  // The name is exact-length: /proc/net/unix lists it without NUL padding while bound.
  const { listener } = await echoServer(address);
  const table = Deno.readTextFileSync("/proc/net/unix");
  assert.ok(table.includes(" @" + address.slice(1) + "\n"), "abstract name listed without padding");
  await listener.close();
  await idle();
});

Deno.test("a Deno.connect client talks to an FFI listener (bytes only)", async () => {
  using dir = tempDir();
  const address = `${dir.path}/interop.sock`;
  const { listener, accepted } = await echoServer(address);
  const conn = await Deno.connect({ transport: "unix", path: address });
  const message = encode("ping from Deno.connect\n");
  await conn.write(message);
  const got = new Uint8Array(message.length);
  let off = 0;
  while (off < got.length) {
    const n = await conn.read(got.subarray(off));
    assert.ok(n !== null && n > 0);
    off += n;
  }
  assert.deepEqual(got, message);
  conn.close();
  await listener.close();
  await within(
    (async () => {
      while (accepted.some((c) => !(c as unknown as { closed: boolean }).closed)) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    5000,
    "server side closed",
  );
  await idle();
});

Deno.test("an FFI client talks to a Deno.listen server (bytes only)", async () => {
  using dir = tempDir();
  const address = `${dir.path}/deno.sock`;
  const server = Deno.listen({ transport: "unix", path: address });
  const served = (async () => {
    const conn = await server.accept();
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    await conn.write(buf.subarray(0, n!));
    conn.close();
  })();
  const client = await ffiPlatform.connect(address);
  const sink = collect(client);
  await client.write(encode("abc\n"));
  await within(sink.closedPromise, 5000, "peer closed");
  assert.equal(sink.text(), "abc\n");
  assert.equal(sink.closedWith, undefined);
  await served;
  server.close();
  await idle();
});

Deno.test("close() before start(): sink.closed is still called once", async () => {
  using dir = tempDir();
  const address = `${dir.path}/s.sock`;
  const { listener, accepted } = await echoServer(address);
  const client = await ffiPlatform.connect(address);
  client.close();
  client.close();
  const sink = new Collector();
  client.start(sink);
  await within(sink.closedPromise, 1000, "closed");
  assert.equal(sink.closedCalls, 1);
  assert.throws(() => client.write(encode("x")), { code: "EPIPE" });
  await listener.close();
  for (const c of accepted) c.close();
  await idle();
});
