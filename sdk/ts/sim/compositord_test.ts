import assert from "node:assert/strict";
import { createMemfd, writeFd } from "../deno/ffi/mod.ts";
import { CompositordClient } from "../services/compositord.ts";
import type { CompositordSim } from "./compositord.ts";
import { fnv1aReference, rejectsWith, serve, sleep, take, within } from "./test_util.ts";

/** A w × h RGBA gradient, rows padded to `stride`. */
function image(w: number, h: number, stride: number): Uint8Array {
  const bytes = new Uint8Array(h * stride);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * stride + x * 4;
      bytes.set([x & 0xff, y & 0xff, (x ^ y) & 0xff, 0xff], o);
    }
  }
  return bytes;
}

Deno.test("compositord: bind_dmabuf reads the memfd and answers its FNV-1a checksum", async () => {
  await using s = await serve("compositord");
  const client = await CompositordClient.connect(s.address);
  try {
    const { id } = await client.createLayer({});
    assert.equal(id, 1);
    const w = 64, h = 32, stride = 320; // padded rows: only h × stride is read
    const pixels = image(w, h, stride);
    using buf = createMemfd("layer", pixels.length + 100);
    writeFd(buf, pixels);
    writeFd(buf, new Uint8Array(100).fill(0xee), pixels.length); // beyond h × stride: not hashed
    const res = await client.bindDmabuf({ id, fd: buf, w, h, format: "RGBA8", stride });
    assert.deepEqual(res, { id, bytes: h * stride, checksum: fnv1aReference(pixels) });
    assert.notEqual(res.checksum, fnv1aReference(new Uint8Array(h * stride)));

    // Different content, different checksum: the sim really reads the descriptor.
    writeFd(buf, new Uint8Array([1, 2, 3, 4]), 0);
    const again = await client.bindDmabuf({
      id,
      fd: buf,
      w,
      h,
      format: "BGRA8",
      stride,
      modifier: "LINEAR",
    });
    const changed = pixels.slice();
    changed.set([1, 2, 3, 4], 0);
    assert.equal(again.checksum, fnv1aReference(changed));
    const layer = (s.sim.sim as unknown as CompositordSim).layer(id);
    assert.equal(layer?.binding?.format, "BGRA8");
    assert.equal(layer?.binding?.checksum, again.checksum);

    // Errors: too-small stride, too-small buffer, unknown modifier, unknown layer, schema.
    await rejectsWith(
      client.bindDmabuf({ id, fd: buf, w, h, format: "RGBA8", stride: 100 }),
      "BAD_FORMAT",
      /Stride 100/,
    );
    await rejectsWith(
      client.bindDmabuf({ id, fd: buf, w, h: 2000, format: "RGBA8", stride }),
      "BAD_FORMAT",
      /needs 640000/,
    );
    await rejectsWith(
      client.bindDmabuf({
        id,
        fd: buf,
        w,
        h,
        format: "RGBA8",
        stride,
        modifier: "0x0100000000000001",
      }),
      "BAD_FORMAT",
      /modifier/,
    );
    await rejectsWith(
      client.bindDmabuf({ id: 9, fd: buf, w, h, format: "RGBA8", stride }),
      "NOT_FOUND",
      /layer 9/,
    );
    await rejectsWith(
      // deno-lint-ignore no-explicit-any
      client.bindDmabuf({ id, fd: buf, w, h, format: "RGB565" as any, stride }),
      "BAD_ARG",
      /format/,
    );
    await client.unbind({ id });
    assert.equal((s.sim.sim as unknown as CompositordSim).layer(id)?.binding, undefined);
  } finally {
    await client.close();
  }
});

Deno.test("compositord: set/commit latch at the next vsync; vsync and pageflip at 60 Hz", async () => {
  await using s = await serve("compositord");
  const sim = s.sim.sim as unknown as CompositordSim;
  const client = await CompositordClient.connect(s.address);
  try {
    const { id } = await client.createLayer({});
    const events = client.subscribe(["vsync", "pageflip"]);
    await events.ready;
    await client.set({ id, x: 100, y: 50, alpha: 0.5, visible: true });
    await client.setRegs({ regs: { [`layer[${id}].z`]: 3, [`layer[${id}].blend`]: "add" } });
    const { frame } = await client.commit({});
    assert.equal(sim.layer(id)?.regs.x, 0, "writes are not visible before their vsync");
    const got = await within(take(events, 8), 2000, "vsync/pageflip events");
    const vsyncs = got.filter((e) => e.event === "vsync") as unknown as {
      frame: number;
      usec: number;
    }[];
    const flips = got.filter((e) => e.event === "pageflip") as unknown as { frame: number }[];
    assert.ok(vsyncs.length >= 3 && flips.length >= 3);
    assert.ok(
      vsyncs.at(-1)!.frame >= frame,
      `vsync ${vsyncs.at(-1)!.frame} before commit frame ${frame}`,
    );
    // Frames count up (a very late timer may skip one, as a real display would).
    for (let i = 1; i < vsyncs.length; i++) assert.ok(vsyncs[i].frame > vsyncs[i - 1].frame);
    const period = (vsyncs.at(-1)!.usec - vsyncs[0].usec) /
      (vsyncs.at(-1)!.frame - vsyncs[0].frame);
    assert.ok(Math.abs(period - 1e6 / 60) < 200, `period ${period} us`);
    assert.deepEqual(sim.layer(id)?.regs, {
      x: 100,
      y: 50,
      alpha: 0.5,
      z: 3,
      visible: true,
      scale_x: 1,
      scale_y: 1,
      rotation: 0,
      blend: "add",
    });
    await rejectsWith(client.set({ id, alpha: 2 }), "BAD_ARG", /alpha/);
    await rejectsWith(client.set({ id: 77, x: 1 }), "NOT_FOUND", /layer 77/);
    await rejectsWith(client.setRegs({ regs: { "layer[77].x": 1 } }), "NOT_FOUND", /layer 77/);
    await client.destroyLayer({ id });
    await rejectsWith(client.destroyLayer({ id }), "NOT_FOUND");
  } finally {
    await client.close();
  }
});

Deno.test("compositord: outputs, modes and hotplug; bind_image reads a file", async () => {
  await using s = await serve("compositord");
  const client = await CompositordClient.connect(s.address);
  try {
    const { outputs } = await client.outputList({});
    assert.equal(outputs.length, 1);
    assert.equal(outputs[0].name, "HDMI-A-1");
    assert.deepEqual(outputs[0].current_mode, { w: 1920, h: 1080, hz: 60 });
    await rejectsWith(
      client.outputSetMode({ id: 0, mode: { w: 800, h: 600, hz: 75 } }),
      "BAD_MODE",
      /800x600@75/,
    );
    await rejectsWith(
      client.outputSetMode({ id: 3, mode: { w: 1280, h: 720, hz: 60 } }),
      "NOT_FOUND",
      /output 3/,
    );
    const hotplug = client.subscribe(["hotplug"]);
    await hotplug.ready;
    await client.outputSetMode({ id: 0, mode: { w: 1280, h: 720, hz: 60 } });
    const [ev] = await within(take(hotplug, 1), 2000, "hotplug");
    assert.deepEqual(ev.event === "hotplug" && ev.outputs[0].current_mode, {
      w: 1280,
      h: 720,
      hz: 60,
    });

    const { id } = await client.createLayer({});
    const path = `${s.dir}/image.raw`;
    Deno.writeFileSync(path, image(16, 16, 64));
    assert.deepEqual(await client.bindImage({ id, path, w: 16, h: 16, format: "RGBA8" }), { id });
    const layer = (s.sim.sim as unknown as CompositordSim).layer(id);
    assert.equal(layer?.binding?.checksum, fnv1aReference(image(16, 16, 64)));
    await rejectsWith(
      client.bindImage({ id, path: `${s.dir}/missing.raw`, w: 16, h: 16, format: "RGBA8" }),
      "NOT_FOUND",
    );
    await rejectsWith(
      client.bindImage({ id, path, w: 16, h: 32, format: "RGBA8" }),
      "BAD_FORMAT",
      /needs 2048/,
    );
    await rejectsWith(
      client.bindImage({ id, path: "relative.raw", w: 1, h: 1, format: "RGBA8" }),
      "BAD_ARG",
      /path/,
    );
  } finally {
    await client.close();
  }
});

Deno.test("compositord: vsync/pageflip are produced only while somebody is subscribed", async () => {
  await using s = await serve("compositord");
  const server = s.sim.server as unknown as { emit(event: string, payload: unknown): number };
  const produced: string[] = [];
  const emit = server.emit.bind(server);
  server.emit = (event, payload) => {
    produced.push(event);
    return emit(event, payload);
  };
  const client = await CompositordClient.connect(s.address);
  try {
    await sleep(80);
    assert.deepEqual(produced, [], "nothing ticks without subscribers");
    await within(take(client.subscribe(["pageflip"]), 3), 2000, "pageflips");
    assert.ok(produced.filter((e) => e === "pageflip").length >= 3);
    await sleep(20); // the unsubscribe from leaving the loop lands
    const n = produced.length;
    await sleep(80);
    assert.equal(produced.length, n, "ticking stops after the last unsubscribe");
  } finally {
    await client.close();
  }
});
