import assert from "node:assert/strict";
import { createMemfd, writeFd } from "../deno/ffi/mod.ts";
import { AudiomixerdClient } from "../services/audiomixerd.ts";
import type { AudiomixerdSim } from "./audiomixerd.ts";
import { rejectsWith, serve, take, within } from "./test_util.ts";

/** `frames` interleaved stereo f32 frames of a 440 Hz sine at 48 kHz, amplitude 0.5. */
function sine(frames: number, channels = 2): Uint8Array {
  const samples = new Float32Array(frames * channels);
  for (let i = 0; i < frames; i++) {
    const v = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 48000);
    for (let c = 0; c < channels; c++) samples[i * channels + c] = v;
  }
  return new Uint8Array(samples.buffer);
}

Deno.test("audiomixerd: graph, start → state + stats every 100 ms, stop", async () => {
  await using s = await serve("audiomixerd");
  const client = await AudiomixerdClient.connect(s.address);
  try {
    await rejectsWith(client.start({}), "DEVICE_UNAVAILABLE", /device_open/);
    const dev = await client.deviceOpen({ period: 128 });
    assert.deepEqual(dev, { name: "default", rate: 48000, channels: 2, period: 128 });
    await rejectsWith(client.deviceOpen({ name: "hw:9,9" }), "DEVICE_UNAVAILABLE", /hw:9,9/);

    const tone = await client.createNode({ type: "tone", args: { freq: 440 } });
    const gain = await client.createNode({ type: "gain", args: { db: -6 } });
    const mix = await client.createNode({ type: "mixer" });
    const sink = await client.createNode({ type: "device_sink", args: {} });
    assert.deepEqual([tone.id, gain.id, mix.id, sink.id], [1, 2, 3, 4]);
    await client.connect({ from: tone.id, to: gain.id });
    await client.connect({ from: gain.id, to: mix.id });
    await client.connect({ from: mix.id, to: sink.id });

    await rejectsWith(client.connect({ from: mix.id, to: gain.id }), "BAD_GRAPH", /cycle/);
    await rejectsWith(client.connect({ from: gain.id, to: gain.id }), "BAD_GRAPH", /cycle/);
    await rejectsWith(
      client.connect({ from: gain.id, to: tone.id }),
      "BAD_GRAPH",
      /no input/,
    );
    await rejectsWith(
      client.connect({ from: sink.id, to: mix.id }),
      "BAD_GRAPH",
      /no output/,
    );
    await rejectsWith(
      client.connect({ from: tone.id, to: gain.id }),
      "BAD_GRAPH",
      /already connected/,
    );
    await rejectsWith(client.connect({ from: tone.id, to: 99 }), "NOT_FOUND", /node 99/);
    await rejectsWith(
      client.disconnect({ from: tone.id, to: sink.id }),
      "NOT_FOUND",
      /not connected/,
    );
    await rejectsWith(client.createNode({ type: "gain", args: { db: 99 } }), "BAD_ARG");

    const events = client.subscribe(["state", "stats"]);
    await events.ready;
    const t0 = performance.now();
    await client.start({});
    await client.start({}); // no-op: no second state event
    const got = await within(take(events, 4), 2000, "state + 3 stats");
    const elapsed = performance.now() - t0;
    assert.deepEqual({ ...got[0], sub: 0 }, { event: "state", sub: 0, value: "running" });
    for (const ev of got.slice(1)) {
      assert.equal(ev.event, "stats");
      if (ev.event !== "stats") continue;
      assert.equal(ev.period, 128);
      assert.ok(ev.cpu_pct >= 0 && ev.late_us >= 0);
    }
    assert.ok(elapsed >= 250, `3 stats events after ${elapsed} ms (expected ~300)`);
    await rejectsWith(client.deviceOpen({}), "BUSY");
    await rejectsWith(client.backend({ driver: "jack" }), "BUSY");
    // Leaving a for-await loop ends its subscription: listen again for the stop.
    const states = client.subscribe(["state"], { value: "stopped" });
    await states.ready;
    await client.stop({});
    const [stopped] = await within(take(states, 1), 2000, "state stopped");
    assert.equal(stopped.event === "state" && stopped.value, "stopped");
    assert.equal((s.sim.sim as unknown as AudiomixerdSim).state, "stopped");

    await client.disconnect({ from: gain.id, to: mix.id });
    await client.destroyNode({ id: mix.id });
    await rejectsWith(client.destroyNode({ id: mix.id }), "NOT_FOUND");
    const sim = s.sim.sim as unknown as AudiomixerdSim;
    assert.deepEqual(sim.node(sink.id)?.inputs, []);
    assert.deepEqual(sim.node(tone.id)?.outputs, [gain.id]);
  } finally {
    await client.close();
  }
});

Deno.test("audiomixerd: app_source reads the memfd ring and answers frames_read", async () => {
  await using s = await serve("audiomixerd");
  const client = await AudiomixerdClient.connect(s.address);
  const sim = s.sim.sim as unknown as AudiomixerdSim;
  try {
    // A ring of 1024 frames, of which the producer already wrote 480.
    using ring = createMemfd("ring", 0);
    writeFd(ring, sine(480));
    const partial = await client.createNode({
      type: "app_source",
      args: { memfd: ring, frames: 1024, channels: 2, rate: 48000 },
    });
    assert.equal(partial.frames_read, 480);
    assert.ok(
      Math.abs((sim.node(partial.id)?.peak ?? 0) - 0.5) < 0.01,
      "samples were decoded as f32",
    );

    // A full ring: frames × channels × 4 bytes are read, no more.
    using full = createMemfd("full", 0);
    writeFd(full, sine(300, 1));
    const whole = await client.createNode({
      type: "app_source",
      args: { memfd: full, frames: 256, channels: 1, rate: 44100 },
    });
    assert.equal(whole.frames_read, 256);

    await rejectsWith(
      client.createNode({
        type: "app_source",
        args: { memfd: full, frames: 256, channels: 3, rate: 44100 },
      }),
      "BAD_FORMAT",
      /3 channels/,
    );
    // Sources have no input.
    await rejectsWith(client.connect({ from: whole.id, to: partial.id }), "BAD_GRAPH");
    // Non-app nodes answer no frames_read.
    const tone = await client.createNode({ type: "tone", args: { freq: 1000 } });
    assert.deepEqual(Object.keys(tone), ["id"]);
    await rejectsWith(
      client.createNode({ type: "file_source", args: { path: `${s.dir}/missing.wav` } }),
      "NOT_FOUND",
      /missing\.wav/,
    );
  } finally {
    await client.close();
  }
});
