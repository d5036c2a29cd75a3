import assert from "node:assert/strict";
import { CompatUaeClient } from "../services/compat-uae.ts";
import type { CompatUaeSim } from "./compat-uae.ts";
import { rejectsWith, serve, take, within } from "./test_util.ts";

/** Writes a fake Kickstart ROM and a DD ADF into `dir`. */
function files(dir: string): { kick: string; adf: string; junk: string } {
  const kick = `${dir}/kick13.rom`;
  const adf = `${dir}/workbench.adf`;
  const junk = `${dir}/junk.adf`;
  Deno.writeFileSync(kick, new Uint8Array(262144));
  Deno.writeFileSync(adf, new Uint8Array(901120));
  Deno.writeFileSync(junk, new Uint8Array(1000));
  return { kick, adf, junk };
}

Deno.test("compat-uae: a running VM emits frame events at 50 fps; stop emits stopped", async () => {
  await using s = await serve("compat-uae");
  const { kick, adf } = files(s.dir);
  const client = await CompatUaeClient.connect(s.address);
  try {
    const { id } = await client.createVm({ model: "A500", kick, floppy: adf });
    assert.equal(id, 1);
    const other = await client.createVm({ model: "A1200", kick });
    const frames = client.subscribe(["frame"], { id });
    await frames.ready;
    await client.start({ id: other.id });
    await client.start({ id });
    const t0 = performance.now();
    const got = await within(take(frames, 5), 2000, "5 frame events");
    const elapsed = performance.now() - t0;
    for (const ev of got) {
      assert.equal(ev.event, "frame");
      if (ev.event !== "frame") continue;
      assert.equal(ev.id, id, "the id filter holds back the other VM's frames");
      assert.equal(ev.fps, 50);
    }
    const usecs = got.map((e) => (e as { usec: number }).usec);
    // Frame times sit on the 50 Hz grid (20 ms apart, or a multiple if a timer was very late).
    for (let i = 1; i < usecs.length; i++) {
      const frames = (usecs[i] - usecs[i - 1]) / 20_000;
      assert.ok(
        frames >= 0.99 && Math.abs(frames - Math.round(frames)) < 0.01,
        `frame gap ${usecs[i] - usecs[i - 1]} us`,
      );
    }
    assert.ok(elapsed >= 60, `5 frames in ${elapsed} ms`);

    const stopped = client.subscribe(["stopped"]);
    await stopped.ready;
    await client.stop({ id });
    await client.reset({ id: other.id, hard: true });
    const evs = await within(take(stopped, 2), 2000, "stopped events");
    assert.deepEqual(evs.map((e) => e.event === "stopped" && [e.id, e.reason]), [[id, "stop"], [
      other.id,
      "reset",
    ]]);
    const sim = s.sim.sim as unknown as CompatUaeSim;
    assert.equal(sim.vm(id)?.state, "stopped");
    assert.equal(sim.vm(id)?.config.chip_ram_kb, 512);
    assert.equal(sim.vm(other.id)?.config.chip_ram_kb, 2048);
    assert.ok((sim.vm(id)?.frames ?? 0) >= 5);
  } finally {
    await client.close();
  }
});

Deno.test("compat-uae: disks, input, layers and errors", async () => {
  await using s = await serve("compat-uae");
  const { kick, adf, junk } = files(s.dir);
  const client = await CompatUaeClient.connect(s.address);
  try {
    await rejectsWith(
      client.createVm({ model: "A500", kick: `${s.dir}/none.rom` }),
      "BAD_ARG",
      /kick/,
    );
    await rejectsWith(
      client.createVm({ model: "A500", kick, floppy: junk }),
      "BAD_DISK",
      /not an ADF/,
    );
    // deno-lint-ignore no-explicit-any
    await rejectsWith(client.createVm({ model: "A4000" as any, kick }), "BAD_ARG", /model/);
    const { id } = await client.createVm({ model: "A500", kick });
    const messages = client.subscribe(["message"], { id });
    await messages.ready;
    await client.insertDisk({ id, drive: 1, path: adf });
    const [msg] = await within(take(messages, 1), 2000, "message event");
    assert.match(msg.event === "message" ? msg.text : "", /DF1: workbench\.adf inserted/);
    await rejectsWith(client.insertDisk({ id, drive: 0, path: junk }), "BAD_DISK");
    await rejectsWith(client.insertDisk({ id, drive: 4, path: adf }), "BAD_ARG", /drive/);
    await client.ejectDisk({ id, drive: 1 });
    await client.ejectDisk({ id, drive: 1 }); // empty drive: no-op
    await client.setInput({ id, port: 1, mode: "cd32" });
    const sim = s.sim.sim as unknown as CompatUaeSim;
    assert.deepEqual(sim.vm(id)?.drives, [null, null, null, null]);
    assert.deepEqual(sim.vm(id)?.ports[1], { mode: "cd32", map: "auto" });
    const { layer } = await client.createLayer({ id });
    assert.equal(layer, 1);
    await client.bindLayer({ id, layer: 5 });
    assert.equal(sim.vm(id)?.layer, 5);
    for (const call of [client.start({ id: 9 }), client.stop({ id: 9 }), client.reset({ id: 9 })]) {
      await rejectsWith(call, "NOT_FOUND", /VM 9/);
    }
  } finally {
    await client.close();
  }
});

Deno.test("compat-uae: without a compositor, layer commands are COMPOSITOR_UNAVAILABLE", async () => {
  await using s = await serve("compat-uae", { sim: { compositor: null, checkFiles: false } });
  const client = await CompatUaeClient.connect(s.address);
  try {
    const { id } = await client.createVm({ model: "A1200", kick: "~/kick31.rom" });
    await rejectsWith(client.createLayer({ id }), "COMPOSITOR_UNAVAILABLE");
    await rejectsWith(client.bindLayer({ id, layer: 1 }), "COMPOSITOR_UNAVAILABLE");
  } finally {
    await client.close();
  }
});
