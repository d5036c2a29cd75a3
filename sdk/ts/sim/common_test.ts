import assert from "node:assert/strict";
import type { FdHandle } from "../core/transport.ts";
import type { RequestContext } from "../mod.ts";
import { fnv1a32, FrameClock, Timers } from "./common.ts";
import { createCompositordSim } from "./compositord.ts";
import { fnv1aReference, sleep } from "./test_util.ts";

Deno.test("fnv1a32: published test vectors", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(fnv1a32(new Uint8Array()), "811c9dc5");
  assert.equal(fnv1a32(enc("a")), "e40c292c");
  assert.equal(fnv1a32(enc("foobar")), "bf9cf968");
  const bytes = crypto.getRandomValues(new Uint8Array(4096));
  assert.equal(fnv1a32(bytes), fnv1aReference(bytes));
});

Deno.test("FrameClock: calls onFrame only while active; Timers.clearAll stops everything", async () => {
  const timers = new Timers();
  let active = false;
  const frames: number[] = [];
  const clock = new FrameClock(
    timers,
    () => Math.floor(performance.now() * 1000),
    100,
    (f) => frames.push(f),
    () => active,
    10,
  );
  clock.start();
  await sleep(60);
  assert.deepEqual(frames, [], "no frames while inactive");
  active = true;
  clock.kick();
  await sleep(80);
  assert.ok(frames.length >= 4, `${frames.length} frames in 80 ms at 100 Hz`);
  for (let i = 1; i < frames.length; i++) assert.ok(frames[i] > frames[i - 1]);
  assert.equal(timers.size, 1);
  timers.clearAll();
  assert.equal(timers.size, 0);
  const n = frames.length;
  await sleep(30);
  assert.equal(frames.length, n, "no frames after clearAll");
  assert.equal(timers.timeout(() => {}, 1), undefined, "no new timers after clearAll");
});

Deno.test("compositord sim: options.fdIo replaces the FFI helpers (how Node or tests plug in)", async () => {
  const content = new Uint8Array(2 * 8).map((_, i) => i * 7);
  const reads: [number, number][] = [];
  const sim = createCompositordSim({
    fdIo: {
      fdSize: () => content.length,
      readFd: (_h, length, offset = 0) => {
        reads.push([length, offset]);
        return content.slice(offset, offset + length);
      },
    },
  });
  try {
    const ctx = { signal: new AbortController().signal, fds: [] } as unknown as RequestContext;
    const { id } = await sim.handlers.create_layer({}, ctx);
    const fd = { fd: 99, closed: false } as unknown as FdHandle;
    const res = await sim.handlers.bind_dmabuf(
      { id, fd, w: 2, h: 2, format: "RGBA8", stride: 8 },
      ctx,
    );
    assert.deepEqual(res, { id, bytes: 16, checksum: fnv1aReference(content) });
    assert.deepEqual(reads, [[16, 0]]);
  } finally {
    sim.stop();
  }
});
