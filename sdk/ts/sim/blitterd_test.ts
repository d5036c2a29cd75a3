import assert from "node:assert/strict";
import { createMemfd, readFd, writeFd } from "../deno/ffi/mod.ts";
import { BlitterdClient } from "../services/blitterd.ts";
import { rejectsWith, serve, take, within } from "./test_util.ts";

/** The 4 bytes of pixel (x, y) of a surface. */
function px(bytes: Uint8Array, stride: number, x: number, y: number): number[] {
  return [...bytes.subarray(y * stride + x * 4, y * stride + x * 4 + 4)];
}

Deno.test("blitterd: rect_fill draws into the DMABUF and its job completes with a complete event", async () => {
  await using s = await serve("blitterd");
  const client = await BlitterdClient.connect(s.address);
  try {
    const w = 8, h = 6, stride = 40;
    using buf = createMemfd("surface", h * stride);
    const events = client.subscribe(["complete", "error"]);
    await events.ready;
    const { job } = await client.rectFill({
      dst: { fd: buf, w, h, format: "RGBA8", stride },
      rect: { x: 6, y: -2, w: 10, h: 4 }, // clipped to x 6–7, y 0–1
      color: { r: 10, g: 20, b: 30, a: 255 },
    });
    assert.equal(job, 1);
    const [ev] = await within(take(events, 1), 2000, "complete event");
    assert.equal(ev.event, "complete");
    assert.equal(ev.event === "complete" && ev.job, job);
    assert.ok(ev.event === "complete" && Number.isInteger(ev.usec) && ev.usec >= 0);
    const bytes = readFd(buf, h * stride);
    assert.deepEqual(px(bytes, stride, 6, 0), [10, 20, 30, 255]);
    assert.deepEqual(px(bytes, stride, 7, 1), [10, 20, 30, 255]);
    assert.deepEqual(px(bytes, stride, 5, 0), [0, 0, 0, 0]);
    assert.deepEqual(px(bytes, stride, 6, 2), [0, 0, 0, 0]);
    assert.equal(bytes[8 * 4], 0, "row padding untouched");

    // Job ids count up; each job has its own event, matched by the job filter.
    const second = client.subscribe(["complete"], { job: 2 });
    await second.ready;
    const next = await client.rectFill({
      dst: { fd: buf, w, h, format: "BGRA8", stride },
      rect: { x: 0, y: 5, w: 1, h: 1 },
      color: { r: 1, g: 2, b: 3, a: 4 },
    });
    assert.equal(next.job, 2);
    const [done] = await within(take(second, 1), 2000, "job 2");
    assert.equal(done.event === "complete" && done.job, 2);
    assert.deepEqual(px(readFd(buf, h * stride), stride, 0, 5), [3, 2, 1, 4], "BGRA8 byte order");
  } finally {
    await client.close();
  }
});

Deno.test("blitterd: a batch (fill, copy, convert) is one job with one complete event", async () => {
  await using s = await serve("blitterd");
  const client = await BlitterdClient.connect(s.address);
  try {
    const w = 4, h = 4, stride = 16;
    using a = createMemfd("a", h * stride);
    using b = createMemfd("b", h * stride);
    using c = createMemfd("c", h * stride);
    const A = { fd: a, w, h, format: "RGBA8" as const, stride };
    const B = { fd: b, w, h, format: "RGBA8" as const, stride };
    const C = { fd: c, w, h, format: "BGRA8" as const, stride };
    const events = client.subscribe(["complete", "error"]);
    await events.ready;
    const { job } = await client.batch({
      ops: [
        {
          op: "rect_fill",
          dst: A,
          rect: { x: 0, y: 0, w: 2, h: 2 },
          color: { r: 200, g: 100, b: 50, a: 255 },
        },
        {
          op: "rect_copy",
          src: A,
          dst: B,
          src_rect: { x: 0, y: 0, w: 2, h: 2 },
          dst_xy: { x: 2, y: 2 },
        },
        { op: "convert", src: B, dst: C },
      ],
    });
    const [ev] = await within(take(events, 1), 2000, "batch complete");
    assert.equal(ev.event, "complete");
    assert.equal(ev.event === "complete" && ev.job, job);
    assert.deepEqual(px(readFd(b, h * stride), stride, 3, 3), [200, 100, 50, 255]);
    assert.deepEqual(px(readFd(b, h * stride), stride, 1, 1), [0, 0, 0, 0]);
    assert.deepEqual(
      px(readFd(c, h * stride), stride, 2, 2),
      [50, 100, 200, 255],
      "converted to BGRA8",
    );
  } finally {
    await client.close();
  }
});

Deno.test("blitterd: file surfaces are written; a missing file fails the job with an error event", async () => {
  await using s = await serve("blitterd");
  const client = await BlitterdClient.connect(s.address);
  try {
    const path = `${s.dir}/surface.raw`;
    Deno.writeFileSync(path, new Uint8Array(2 * 2 * 4));
    const events = client.subscribe(["complete", "error"]);
    await events.ready;
    const ok = await client.rectFill({
      dst: { path, w: 2, h: 2, format: "RGBA8", stride: 8 },
      rect: { x: 1, y: 1, w: 1, h: 1 },
      color: { r: 9, g: 8, b: 7, a: 6 },
    });
    const bad = await client.rectFill({
      dst: { path: `${s.dir}/nope.raw`, w: 2, h: 2, format: "RGBA8", stride: 8 },
      rect: { x: 0, y: 0, w: 1, h: 1 },
      color: { r: 0, g: 0, b: 0, a: 0 },
    });
    const got = await within(take(events, 2), 2000, "two job events");
    const byJob = new Map(got.map((e) => [(e as { job: number }).job, e]));
    assert.equal(byJob.get(ok.job)?.event, "complete");
    const failed = byJob.get(bad.job);
    assert.equal(failed?.event, "error");
    assert.match((failed as { message: string }).message, /nope\.raw/);
    assert.deepEqual([...Deno.readFileSync(path)], [
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      9,
      8,
      7,
      6,
    ]);
  } finally {
    await client.close();
  }
});

Deno.test("blitterd: bad sizes are BAD_FORMAT / BAD_ARG, answered without a job", async () => {
  await using s = await serve("blitterd");
  const client = await BlitterdClient.connect(s.address);
  try {
    using small = createMemfd("small", 16);
    writeFd(small, new Uint8Array(16));
    const rect = { x: 0, y: 0, w: 1, h: 1 };
    const color = { r: 0, g: 0, b: 0, a: 0 };
    await rejectsWith(
      client.rectFill({ dst: { fd: small, w: 4, h: 1, format: "RGBA8", stride: 8 }, rect, color }),
      "BAD_FORMAT",
      /stride 8 is below w × 4 = 16/,
    );
    await rejectsWith(
      client.rectFill({ dst: { fd: small, w: 4, h: 4, format: "RGBA8", stride: 16 }, rect, color }),
      "BAD_FORMAT",
      /holds 16 bytes, h × stride needs 64/,
    );
    await rejectsWith(
      client.convert({
        src: { fd: small, w: 2, h: 2, format: "RGBA8", stride: 8 },
        dst: { fd: small, w: 4, h: 1, format: "RGBA8", stride: 16 },
      }),
      "BAD_ARG",
      /equal sizes/,
    );
    await rejectsWith(
      client.rectFill({
        dst: { fd: small, w: 1, h: 1, format: "RGBA8", stride: 4 },
        rect,
        color: { ...color, r: 300 },
      }),
      "BAD_ARG",
      /color\/r/,
    );
    // None of the failures took a job id.
    const { job } = await client.rectFill({
      dst: { fd: small, w: 1, h: 1, format: "RGBA8", stride: 4 },
      rect,
      color,
    });
    assert.equal(job, 1);
  } finally {
    await client.close();
  }
});
