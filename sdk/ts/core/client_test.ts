// Unit tests of the client/server core over the in-memory transport (the same behaviour is proven
// over real sockets in tests/ and per platform).
import assert from "node:assert/strict";
import { PortClient } from "./client.ts";
import { PortServer } from "./server.ts";
import type { ServerDescriptor } from "./descriptor.ts";
import { MemoryFd, memoryFd, memoryPair } from "./memory_transport.ts";
import { ProtocolError, RemoteError } from "./errors.ts";
import type { FdHandle } from "./transport.ts";

const descriptor: ServerDescriptor = {
  name: "unit",
  version: "0.0.1",
  protocol: 0,
  fdPassing: true,
  commands: { echo: {}, take: { fds: true }, give: { fds: true }, keep: { fds: true } },
  events: { tick: { filters: ["k"] }, blob: { fds: true } },
  schema: { service: "unit" },
  validateArgs: {},
};

function setup(options = {}) {
  let kept: FdHandle | undefined;
  const server = new PortServer(descriptor, {
    echo: (a) => a,
    take: (a: { fd: MemoryFd }) => ({ bytes: a.fd.content?.length ?? -1 }),
    give: () => ({ fd: memoryFd(new Uint8Array([7, 7])) }),
    keep: (a: { fd: FdHandle }) => {
      kept = a.fd.keep();
      return {};
    },
  }, options);
  const [a, b] = memoryPair();
  server.accept(b);
  const client = new PortClient(a, { onWarning: () => {} });
  return { server, client, kept: () => kept };
}

Deno.test("descriptors pass both ways and are closed by whoever owns them", async () => {
  const { client, server, kept } = setup();
  const before = MemoryFd.open.size;
  const mine = memoryFd(new Uint8Array([1, 2, 3]));
  assert.deepEqual(await client.request("take", { fd: mine }), { bytes: 3 });
  mine.close();
  const r = await client.request<{ fd: MemoryFd }>("give");
  assert.deepEqual([...r.fd.content!], [7, 7]);
  r.fd.close();
  const k = memoryFd();
  await client.request("keep", { fd: k });
  k.close();
  assert.equal(kept()?.closed, false, "a kept descriptor stays open");
  kept()!.close();
  await client.close();
  await server.close();
  assert.equal(MemoryFd.open.size, before, "no descriptor leaked");
});

Deno.test("events with descriptors reach the subscriber as handles", async () => {
  const { client, server } = setup();
  const sub = client.subscribe<{ fd: MemoryFd }>(["blob"]);
  await sub.ready;
  const src = memoryFd(new Uint8Array([9]));
  server.emit("blob", { fd: src });
  const { value } = await sub.next();
  assert.deepEqual([...(value as { fd: MemoryFd }).fd.content!], [9]);
  (value as { fd: MemoryFd }).fd.close();
  src.close();
  await client.close();
  await server.close();
});

Deno.test("filters with a list of accepted values", async () => {
  const { client, server } = setup();
  const sub = client.subscribe<{ k: number }>(["tick"], { k: [1, 3] });
  await sub.ready;
  for (let k = 0; k < 5; k++) server.emit("tick", { k });
  const got: number[] = [];
  for await (const ev of sub) {
    got.push((ev as { k: number }).k);
    if (got.length === 2) break;
  }
  assert.deepEqual(got, [1, 3]);
  await client.close();
  await server.close();
});

Deno.test("the client's local buffer reports drops as a dropped event", async () => {
  const { client, server } = setup();
  // A second connection whose subscriptions buffer at most 3 events locally.
  const small = new PortClient((() => {
    const [a, b] = memoryPair();
    server.accept(b);
    return a;
  })(), { subscription: { maxBuffered: 3 } });
  const s2 = small.subscribe(["tick"]);
  await s2.ready;
  for (let k = 0; k < 10; k++) server.emit("tick", { k });
  await new Promise((r) => setTimeout(r, 10));
  const out = [];
  for (let i = 0; i < 4; i++) out.push((await s2.next()).value);
  assert.deepEqual(out.slice(0, 3).map((e) => (e as { k: number }).k), [0, 1, 2]);
  assert.deepEqual(out[3], { event: "dropped", sub: s2.sub, reason: "client-buffer", count: 7 });
  await small.close();
  await client.close();
  await server.close();
});

Deno.test("a response with an fd_index out of range is a ProtocolError", async () => {
  const [a, b] = memoryPair();
  const client = new PortClient(a);
  b.start({
    data: () => {
      b.write(new TextEncoder().encode('{"ok":true,"id":1,"result":{"fd":{"fd_index":2}},"fds":1}\n'), [memoryFd().fd]);
    },
    closed: () => {},
  });
  await assert.rejects(client.request("x"), (e: ProtocolError) => e.code === "BAD_FD");
  await client.close();
});

Deno.test("a bare-string error (mcu-cia style) still becomes a RemoteError", async () => {
  const [a, b] = memoryPair();
  const client = new PortClient(a);
  b.start({
    data: () => b.write(new TextEncoder().encode('{"ok":false,"id":1,"error":"BAD_ARG"}\n')),
    closed: () => {},
  });
  await assert.rejects(client.request("x"), (e: RemoteError) => e.code === "BAD_ARG");
  await client.close();
});

Deno.test("a closed descriptor in the arguments rejects the call instead of throwing", async () => {
  const { client, server } = setup();
  const fd = memoryFd();
  fd.close();
  const p = client.request("take", { fd });
  assert.ok(p instanceof Promise);
  await assert.rejects(p, TypeError);
  assert.deepEqual(await client.request("echo", { ok: 1 }), { ok: 1 });
  await client.close();
  await server.close();
});

Deno.test("a BAD_FD message counts the descriptors that did arrive", async () => {
  const { client, server } = setup();
  const [a, b] = memoryPair();
  server.accept(b);
  const replies: string[] = [];
  a.start({ data: (c) => replies.push(new TextDecoder().decode(c)), closed: () => {} });
  const one = memoryFd();
  a.write(new TextEncoder().encode('{"id":1,"cmd":"take","fds":2,"args":{"fd":{"fd_index":0}}}\n'), [one.fd]);
  one.close();
  await new Promise((r) => setTimeout(r, 10));
  assert.match(replies.join(""), /claims 2 descriptors but 1 arrived/);
  a.close();
  await client.close();
  await server.close();
});

Deno.test("a handler that returns a closed descriptor answers INTERNAL and the server keeps serving", async () => {
  const errors: string[] = [];
  const server = new PortServer(descriptor, {
    echo: (a) => a,
    take: () => ({}),
    give: () => {
      const fd = memoryFd();
      fd.close();
      return { fd };
    },
    keep: () => ({}),
  }, { onError: (_e, where) => errors.push(where) });
  const [a, b] = memoryPair();
  server.accept(b);
  const client = new PortClient(a);
  await assert.rejects(client.request("give"), (e: RemoteError) => e.code === "INTERNAL" && /unusable descriptor/.test(e.message));
  assert.deepEqual(errors, ['result of "give"']);
  assert.deepEqual(await client.request("echo", { still: true }), { still: true });
  await client.close();
  await server.close();
});
