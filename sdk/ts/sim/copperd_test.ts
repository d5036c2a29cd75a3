import assert from "node:assert/strict";
import { CopperdClient, type Op } from "../services/copperd.ts";
import type { CopperdSim } from "./copperd.ts";
import { rejectsWith, serve, take, within } from "./test_util.ts";

const prog = (...ops: Op[]) => ({ program: { version: 1, program: ops as [Op, ...Op[]] } });

Deno.test("copperd: load → start → irq events with the right tag → stop", async () => {
  await using s = await serve("copperd");
  const client = await CopperdClient.connect(s.address);
  try {
    const { id } = await client.load(prog(
      { op: "MOVE", reg: "layer[1].x", value: 100 },
      { label: "loop" },
      { op: "WAIT", vsync: true },
      { op: "ADD", reg: "layer[1].x", delta: 4 },
      { op: "IRQ", tag: "tick" },
      { op: "JUMP", label: "loop" },
    ));
    assert.equal(id, 1);
    const states = client.subscribe(["state"], { prog: id });
    await states.ready;
    const irqs = client.subscribe(["irq"], { tag: "tick" });
    await irqs.ready;
    const t0 = performance.now();
    await client.start({ id });
    const got = await within(take(irqs, 6, ["irq"]), 2000, "6 irq events");
    const elapsed = performance.now() - t0;
    for (const ev of got) {
      assert.equal(ev.event, "irq");
      if (ev.event !== "irq") continue;
      assert.equal(ev.tag, "tick");
      assert.equal(ev.prog, id);
      assert.ok(Number.isInteger(ev.usec) && ev.usec > 0);
    }
    // One IRQ per vsync at 60 Hz: six of them take roughly 100 ms, certainly more than 60.
    assert.ok(elapsed > 60, `6 vsyncs took only ${elapsed} ms`);
    const usecs = got.map((e) => (e as { usec: number }).usec);
    for (let i = 1; i < usecs.length; i++) assert.ok(usecs[i] > usecs[i - 1]);

    const status = await client.status({ id });
    assert.equal(status.state, "running");
    assert.ok((status.frame ?? 0) >= 5, `frame ${status.frame}`);
    assert.ok(status.pc !== undefined && status.pc >= 0 && status.pc < 6);
    const x = ((s.sim.sim as unknown as CopperdSim).registers())["layer[1].x"] as number;
    assert.ok(x >= 124 && (x - 100) % 4 === 0, `layer[1].x = ${x}`);

    await client.stop({ id });
    const [running, stopped] = await within(take(states, 2, ["state"]), 2000, "state events");
    assert.deepEqual({ ...running, sub: 0 }, {
      event: "state",
      sub: 0,
      prog: id,
      state: "running",
    });
    assert.deepEqual({ ...stopped, sub: 0 }, {
      event: "state",
      sub: 0,
      prog: id,
      state: "stopped",
    });
    assert.deepEqual(await client.list({}), { programs: [{ id, state: "stopped" }] });
    // Stopping a stopped program is a no-op; starting again restarts from the first op.
    await client.stop({ id });
    await client.unload({ id });
    assert.deepEqual(await client.list({}), { programs: [] });
    await rejectsWith(client.status({ id }), "NOT_FOUND", /program 1/);
  } finally {
    await client.close();
  }
});

Deno.test("copperd: LOOP runs its body count+1 times, then the program ends (state stopped)", async () => {
  await using s = await serve("copperd");
  const client = await CopperdClient.connect(s.address);
  try {
    const { id } = await client.load(prog(
      { op: "IRQ", tag: "begin" },
      { label: "top" },
      { op: "WAIT", vsync: true },
      { op: "IRQ", tag: "tick" },
      { op: "LOOP", count: 2, label: "top" },
      { op: "MOVE", reg: "layer[2].visible", value: true },
      { op: "IRQ", tag: "done" },
    ));
    const events = client.subscribe(["irq", "state"], { prog: id });
    await events.ready;
    await client.start({ id });
    const got = await within(take(events, 7), 3000, "program run");
    const summary = got.map((e) =>
      e.event === "irq" ? e.tag : e.event === "state" ? e.state : e.event
    );
    assert.deepEqual(summary, ["running", "begin", "tick", "tick", "tick", "done", "stopped"]);
    assert.equal((s.sim.sim as unknown as CopperdSim).registers()["layer[2].visible"], true);
    const status = await client.status({ id });
    assert.equal(status.state, "stopped");
    assert.equal(status.pc, 7);
  } finally {
    await client.close();
  }
});

Deno.test("copperd: WAIT us waits real time; a loop without WAIT trips the watchdog", async () => {
  await using s = await serve("copperd", { sim: { watchdogOps: 500 } });
  const client = await CopperdClient.connect(s.address);
  try {
    const { id } = await client.load(prog({ op: "WAIT", us: 40_000 }, { op: "IRQ", tag: "late" }));
    const irqs = client.subscribe(["irq"], { prog: id });
    await irqs.ready;
    const t0 = performance.now();
    await client.start({ id });
    await within(take(irqs, 1), 2000, "irq after WAIT us");
    const waited = performance.now() - t0;
    assert.ok(waited >= 35, `WAIT 40000 us took ${waited} ms`);

    const spin = await client.load(
      prog({ label: "l" }, { op: "ADD", reg: "layer[1].y", delta: 1 }, { op: "JUMP", label: "l" }),
    );
    const states = client.subscribe(["state"], { prog: spin.id, state: "error" });
    await states.ready;
    await client.start({ id: spin.id });
    const [ev] = await within(take(states, 1), 2000, "watchdog");
    assert.equal(ev.event === "state" && ev.code, "WATCHDOG");
    const st = await client.status({ id: spin.id });
    assert.equal(st.state, "error");
    assert.equal(st.code, "WATCHDOG");
  } finally {
    await client.close();
  }
});

Deno.test("copperd: vsync events tick at 60 Hz with consecutive frames", async () => {
  await using s = await serve("copperd");
  const client = await CopperdClient.connect(s.address);
  try {
    const got = await within(take(client.subscribe(["vsync"]), 8), 2000, "vsync events");
    const frames = got.map((e) => (e as { frame: number }).frame);
    const usecs = got.map((e) => (e as { usec: number }).usec);
    for (let i = 1; i < frames.length; i++) assert.ok(frames[i] > frames[i - 1]);
    const perFrame = (usecs.at(-1)! - usecs[0]) / (frames.at(-1)! - frames[0]);
    assert.ok(Math.abs(perFrame - 1e6 / 60) < 200, `period ${perFrame} us`);
  } finally {
    await client.close();
  }
});

Deno.test("copperd: errors — BAD_PROGRAM, BAD_ARG naming the field, NOT_FOUND", async () => {
  await using s = await serve("copperd");
  const client = await CopperdClient.connect(s.address);
  try {
    await rejectsWith(
      client.load(prog({ op: "JUMP", label: "nowhere" })),
      "BAD_PROGRAM",
      /unknown label "nowhere"/,
    );
    await rejectsWith(
      client.load(prog({ label: "a" }, { label: "a" }, { op: "IRQ", tag: "x" })),
      "BAD_PROGRAM",
      /duplicate label "a"/,
    );
    await rejectsWith(
      client.load(prog({ op: "MOVE", reg: "layer[1].visible", value: 3 })),
      "BAD_PROGRAM",
      /visible takes a boolean/,
    );
    await rejectsWith(
      client.load(prog({ op: "ADD", reg: "layer[1].blend", delta: 1 })),
      "BAD_PROGRAM",
      /non-numeric/,
    );
    await rejectsWith(
      client.load(prog({ op: "FENCE", timeline: 3, value: 1 })),
      "BAD_PROGRAM",
      /timeline 3/,
    );
    await rejectsWith(
      client.load({ program: { version: 2, program: [{ op: "IRQ", tag: "x" }] } }),
      "BAD_ARG",
      /program\/version/,
    );
    await rejectsWith(client.start({ id: 0 }), "BAD_ARG", /\/id/);
    await rejectsWith(client.start({ id: 42 }), "NOT_FOUND", /program 42/);
    await rejectsWith(client.stop({ id: 42 }), "NOT_FOUND");
    await rejectsWith(client.unload({ id: 42 }), "NOT_FOUND");
    // Nothing was loaded by the failed attempts; the first good load gets id 1.
    assert.deepEqual(await client.load(prog({ op: "IRQ", tag: "ok" })), { id: 1 });
  } finally {
    await client.close();
  }
});
