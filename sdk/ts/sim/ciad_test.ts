import assert from "node:assert/strict";
import { CiadClient } from "../services/ciad.ts";
import type { CiadSim } from "./ciad.ts";
import { rejectsWith, serve, sleep, take, within } from "./test_util.ts";

Deno.test("ciad: periodic and one-shot timers emit timer events on the board clock", async () => {
  await using s = await serve("ciad");
  const client = await CiadClient.connect(s.address);
  try {
    const a = (await client.timeUs({})).time_us;
    await sleep(5);
    const b = (await client.timeUs({})).time_us;
    assert.ok(b - a >= 4000, `time_us advanced ${b - a} us in 5 ms`);

    const periodic = client.subscribe(["timer"], { id: 0 });
    const oneShot = client.subscribe(["timer"], { id: 1 });
    await Promise.all([periodic.ready, oneShot.ready]);
    await client.timerSet({ id: 0, us: 5000, period: true });
    await client.timerSet({ id: 1, us: 20_000 });
    const ticks = await within(take(periodic, 5), 2000, "5 periodic expiries");
    const times = ticks.map((e) => (e as { time_us: number }).time_us);
    for (let i = 1; i < times.length; i++) {
      assert.equal(times[i] - times[i - 1], 5000, "drift-free period");
    }
    assert.ok(times[0] > b);
    await client.timerStop({ id: 0 });
    await client.timerStop({ id: 0 }); // idle: no-op
    const [once] = await within(take(oneShot, 1), 2000, "one-shot expiry");
    assert.equal(once.event === "timer" && once.id, 1);

    // After timer_stop and the one-shot, nothing fires any more.
    const late = client.subscribe(["timer"]);
    await late.ready;
    const none = await Promise.race([
      take(late, 1).then(() => "event"),
      sleep(60).then(() => "quiet"),
    ]);
    assert.equal(none, "quiet");
    await rejectsWith(client.timerSet({ id: 2, us: 10 }), "BAD_ARG", /\/id/);
  } finally {
    await client.close();
  }
});

Deno.test("ciad: GPIO modes, BAD_PIN_MODE, pull-up edge events", async () => {
  await using s = await serve("ciad");
  const sim = s.sim.sim as unknown as CiadSim;
  const client = await CiadClient.connect(s.address);
  try {
    await rejectsWith(client.gpioWrite({ pin: 3, value: 1 }), "BAD_PIN_MODE", /Pin 3 is an input/);
    await client.gpioMode({ pin: 3, mode: "out" });
    await client.gpioWrite({ pin: 3, value: 1 });
    assert.deepEqual(await client.gpioRead({ pin: 3 }), { value: 1 });
    await client.gpioWrite({ pin: 3, value: 0 });
    assert.deepEqual(await client.gpioRead({ pin: 3 }), { value: 0 });
    await rejectsWith(client.gpioRead({ pin: 40 }), "BAD_ARG", /pins 0–31/);
    await rejectsWith(client.gpioRead({ pin: 64 }), "BAD_ARG", /pin/);

    const edges = client.subscribe(["gpio"]);
    await edges.ready;
    assert.deepEqual(await client.gpioRead({ pin: 7 }), { value: 0 });
    await client.gpioMode({ pin: 7, mode: "in_pullup" });
    assert.deepEqual(await client.gpioRead({ pin: 7 }), { value: 1 });
    sim.setInput(7, 0); // something outside pulls it low
    const got = await within(take(edges, 2), 2000, "gpio edges");
    assert.deepEqual(got.map((e) => e.event === "gpio" && [e.pin, e.edge]), [[7, "rising"], [
      7,
      "falling",
    ]]);
  } finally {
    await client.close();
  }
});

Deno.test("ciad: I²C EEPROM at 0x50, NACK elsewhere; MIDI; set_rtc", async () => {
  await using s = await serve("ciad");
  const sim = s.sim.sim as unknown as CiadSim;
  const client = await CiadClient.connect(s.address);
  try {
    assert.deepEqual(await client.i2cXfer({ addr: 0x50, tx: [0x10], rx: 2 }), { rx: [0xff, 0xff] });
    await client.i2cXfer({ addr: 0x50, tx: [0x10, 0xde, 0xad, 0xbe, 0xef] });
    assert.deepEqual(await client.i2cXfer({ addr: 0x50, tx: [0x11], rx: 3 }), {
      rx: [0xad, 0xbe, 0xef],
    });
    assert.deepEqual(await client.i2cXfer({ addr: 0x50 }), { rx: [] });
    await rejectsWith(client.i2cXfer({ addr: 0x42, rx: 1 }), "I2C_NACK", /0x42/);
    await rejectsWith(client.i2cXfer({ addr: 0x50, tx: [256] }), "BAD_ARG", /tx\/0/);

    await client.midiOut({ data: [0x90, 60, 100] });
    await client.midiOut({ data: [0x80, 60, 0] });
    assert.deepEqual(sim.midiSent, [[0x90, 60, 100], [0x80, 60, 0]]);
    await rejectsWith(client.midiOut({ data: [60, 100] }), "BAD_ARG", /status byte/);
    // deno-lint-ignore no-explicit-any
    await rejectsWith(client.midiOut({ data: [] as any }), "BAD_ARG", /data/);

    // No timer runs: set_rtc steps the clock.
    const target = 1_000_000_000_000;
    await client.setRtc({ time_us: target });
    const now = (await client.timeUs({})).time_us;
    assert.ok(now >= target && now - target < 1_000_000, `time_us ${now} after set_rtc ${target}`);
  } finally {
    await client.close();
  }
});
