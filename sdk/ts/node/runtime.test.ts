/**
 * The runtime core (PortServer, PortClient, runtime.ts) over the Node platforms: requests,
 * descriptors in both directions through the real channel, and the runtime's platform choice.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { PortClient } from "../core/client.ts";
import type { ServerDescriptor } from "../core/descriptor.ts";
import { PortServer } from "../core/server.ts";
import type { FdHandle, Listener, Platform } from "../core/transport.ts";
import { connect, platformFor as runtimePlatformFor } from "../runtime.ts";
import { createMemfd, fdSize, readFd, writeFd } from "./ffi/mod.ts";
import { nodeFfiPlatform, nodePlatform } from "./mod.ts";
import { abstractAddress, tempDir } from "./testing.ts";

const descriptor: ServerDescriptor = {
  name: "nodetest",
  version: "1.0.0",
  protocol: 0,
  fdPassing: true,
  commands: { add: {}, fdsum: { fds: true }, fdmake: { fds: true } },
  events: {},
  schema: { name: "nodetest" },
  validateArgs: { add: () => undefined, fdsum: () => undefined, fdmake: () => undefined },
};

const handlers = {
  add: ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
  fdsum: ({ fd }: { fd: FdHandle }) => {
    const bytes = readFd(fd, fdSize(fd), 0);
    let sum = 0;
    for (const b of bytes) sum += b;
    return { sum, size: bytes.length };
  },
  fdmake: ({ text }: { text: string }) => {
    const bytes = new TextEncoder().encode(text);
    const fd = createMemfd("made", bytes.length);
    writeFd(fd, bytes, 0);
    return { fd };
  },
};

let tmp: { dir: string; cleanup: () => void };
before(() => {
  tmp = tempDir();
});
after(() => tmp.cleanup());

async function serve(platform: Platform, address: string): Promise<{ server: PortServer; listener: Listener }> {
  const server = new PortServer(descriptor, handlers);
  const listener = await platform.listen(address, (c) => server.accept(c), { fdPassing: platform.name === "node-ffi" });
  return { server, listener };
}

describe("runtime core over the Node platforms", () => {
  test("node:net: requests and ping", async () => {
    const address = join(tmp.dir, "net.sock");
    const { server, listener } = await serve(nodePlatform, address);
    const client = new PortClient(await nodePlatform.connect(address));
    assert.deepEqual(await client.request("add", { a: 2, b: 40 }), { sum: 42 });
    const pong = await client.ping();
    assert.equal(pong.name, "nodetest");
    assert.equal(pong.protocol, 0);
    const many = await Promise.all(Array.from({ length: 500 }, (_, i) => client.request("add", { a: i, b: 1 })));
    assert.deepEqual(many.at(-1), { sum: 500 });
    await client.close();
    await listener.close();
    await server.close();
  });

  test("node-ffi: memfd in a request and in a response", async () => {
    const address = abstractAddress("runtime");
    const { server, listener } = await serve(nodeFfiPlatform, address);
    const client = new PortClient(await nodeFfiPlatform.connect(address, { fdPassing: true }));
    const memfd = createMemfd("req", 0);
    writeFd(memfd, new Uint8Array([1, 2, 3, 250]));
    assert.deepEqual(await client.request("fdsum", { fd: memfd }), { sum: 256, size: 4 });
    const { fd } = await client.request<{ fd: FdHandle }>("fdmake", { text: "made on the server" });
    assert.equal(new TextDecoder().decode(readFd(fd, fdSize(fd))), "made on the server");
    fd.close();
    memfd.close();
    await client.close();
    await listener.close();
    await server.close();
  });

  test("runtime.ts picks the Node adapters (FFI for descriptors and abstract names)", async () => {
    assert.equal((await runtimePlatformFor(false, "/x.sock")).name, "node");
    assert.equal((await runtimePlatformFor(false, "@x")).name, "node-ffi");
    assert.equal((await runtimePlatformFor(true)).name, "node-ffi");
    const address = join(tmp.dir, "rt.sock");
    const { server, listener } = await serve(nodeFfiPlatform, address);
    const client = await connect(address, { fdPassing: true });
    const memfd = createMemfd("rt", 3);
    writeFd(memfd, new Uint8Array([7, 7, 7]));
    assert.deepEqual(await client.request("fdsum", { fd: memfd }), { sum: 21, size: 3 });
    memfd.close();
    await client.close();
    await listener.close();
    await server.close();
  });
});
