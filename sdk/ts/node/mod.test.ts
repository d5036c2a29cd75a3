/** Tests of the Node platform chooser and the lazy FFI platform. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeFfiPlatform, nodePlatform, platformFor } from "./mod.ts";
import { abstractAddress, Collector, encode, writeAll } from "./testing.ts";

test("platformFor: abstract addresses or descriptor passing → FFI, else node:net", () => {
  assert.equal(platformFor({}), nodePlatform);
  assert.equal(platformFor({ address: "/run/copperline/copperd.sock" }), nodePlatform);
  assert.equal(platformFor({ address: "@copperline/copperd" }), nodeFfiPlatform);
  assert.equal(platformFor({ fdPassing: true }), nodeFfiPlatform);
  assert.equal(platformFor({ fdPassing: true, address: "/x.sock" }), nodeFfiPlatform);
  assert.equal(nodePlatform.name, "node");
  assert.equal(nodeFfiPlatform.name, "node-ffi");
});

test("the lazy FFI platform works through mod.ts", async () => {
  const address = abstractAddress("mod");
  const platform = platformFor({ address });
  const listener = await platform.listen(address, (c) => c.start({ data: (b) => void c.write(b), closed() {} }));
  const c = await platform.connect(address);
  assert.equal(c.fdPassing, true);
  const sink = new Collector();
  c.start(sink);
  await writeAll(c, encode("via mod\n"));
  await sink.until(8);
  assert.equal(sink.text(), "via mod\n");
  c.close();
  await sink.closedPromise;
  await listener.close();
});
