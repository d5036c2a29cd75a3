/**
 * The main demo: starts every simulated service in a child process on temporary sockets, then
 * drives them with the generated typed clients — calls, a subscription, a file descriptor passed
 * by SCM_RIGHTS, an error — and prints what happened. Exits 0 when everything behaved.
 *
 *   npm run demo          (or: deno run -A examples/deno/demo.ts)
 *
 * @module
 */

import { RemoteError } from "../../sdk/ts/mod.ts";
import { createMemfd, writeFd } from "../../sdk/ts/deno/ffi/mod.ts";
import { CopperdClient } from "../../sdk/ts/services/copperd.ts";
import { CompositordClient } from "../../sdk/ts/services/compositord.ts";
import { BlitterdClient } from "../../sdk/ts/services/blitterd.ts";
import { AudiomixerdClient } from "../../sdk/ts/services/audiomixerd.ts";
import { fnv1a32 } from "../../sdk/ts/sim/mod.ts";

const dir = await Deno.makeTempDir({ prefix: "copperline-demo-" });
const say = (s: string) => console.log(s);
const step = (s: string) => console.log(`\n== ${s}`);

// 1. Simulated services in their own process, on real Unix sockets.
step(`starting simulated services in ${dir}`);
const sims = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("../../sdk/ts/sim/cli.ts", import.meta.url).pathname, "all", "--dir", dir],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
{
  const reader = sims.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while ((seen.match(/serving /g) ?? []).length < 6) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the simulated services exited early");
    seen += value;
  }
  for (const l of seen.trim().split("\n")) say(`  ${l}`);
  reader.releaseLock();
}

let ok = true;
try {
  // 2. copperd: load a program, start it, watch its IRQs.
  step("copperd: load, start, subscribe to irq");
  const copperd = await CopperdClient.connect(`${dir}/copperd.sock`);
  const ping = await copperd.ping();
  say(`  ping → ${JSON.stringify(ping)}`);
  const { id } = await copperd.load({
    program: {
      version: 1,
      program: [
        { op: "MOVE", reg: "layer[1].x", value: 100 },
        { label: "loop" },
        { op: "WAIT", vsync: true },
        { op: "ADD", reg: "layer[1].x", delta: 4 },
        { op: "IRQ", tag: "tick" },
        { op: "JUMP", label: "loop" },
      ],
    },
  });
  say(`  load → program ${id}`);
  const irqs = copperd.subscribe(["irq"], { tag: "tick" });
  await irqs.ready;
  await copperd.start({ id });
  let n = 0;
  for await (const ev of irqs) {
    if (ev.event !== "irq") continue;
    say(`  event ${JSON.stringify(ev)}`);
    if (++n === 3) break; // leaving the loop unsubscribes
  }
  say(`  status → ${JSON.stringify(await copperd.status({ id }))}`);
  await copperd.stop({ id });
  try {
    await copperd.start({ id: 999 });
    ok = false;
  } catch (e) {
    if (!(e instanceof RemoteError)) throw e;
    say(`  start 999 → ${e.code}: ${e.message}`);
    ok &&= e.code === "NOT_FOUND";
  }
  await copperd.close();

  // 3. compositord: a layer, a DMABUF-like buffer passed as a file descriptor, vsync events.
  step("compositord: create a layer, pass a buffer by SCM_RIGHTS, watch vsync");
  const comp = await CompositordClient.connect(`${dir}/compositord.sock`);
  const layer = await comp.createLayer();
  say(`  create_layer → ${JSON.stringify(layer)}`);
  const w = 16, h = 16, stride = w * 4;
  const pixels = new Uint8Array(h * stride).map((_, i) => (i * 7) & 0xff);
  {
    using buf = createMemfd("sprite", pixels.length);
    writeFd(buf, pixels, 0);
    const bound = await comp.bindDmabuf({ id: layer.id, fd: buf, w, h, format: "RGBA8", stride });
    const local = fnv1a32(pixels).toString(16).padStart(8, "0");
    say(`  bind_dmabuf → ${JSON.stringify(bound)} (local checksum ${local})`);
    ok &&= bound.checksum === local && bound.bytes === pixels.length;
  }
  await comp.set({ id: layer.id, x: 100, y: 360, alpha: 1, z: 10, visible: true });
  let frames = 0;
  for await (const ev of comp.subscribe(["vsync"])) {
    if (ev.event !== "vsync") continue;
    say(`  event ${JSON.stringify(ev)}`);
    if (++frames === 2) break;
  }
  await comp.close();

  // 4. blitterd: a job and its completion event.
  step("blitterd: rect_fill and its complete event");
  const blit = await BlitterdClient.connect(`${dir}/blitterd.sock`);
  const done = blit.subscribe(["complete", "error"]);
  await done.ready;
  await Deno.writeFile(`${dir}/canvas.rgba`, new Uint8Array(64 * 64 * 4));
  const job = await blit.rectFill({
    dst: { path: `${dir}/canvas.rgba`, w: 64, h: 64, format: "RGBA8", stride: 256 },
    rect: { x: 0, y: 0, w: 32, h: 32 },
    color: { r: 255, g: 0, b: 255, a: 255 },
  });
  {
    say(`  rect_fill → ${JSON.stringify(job)}`);
    for await (const ev of done) {
      say(`  event ${JSON.stringify(ev)}`);
      ok &&= ev.event === "complete";
      break;
    }
    const canvas = await Deno.readFile(`${dir}/canvas.rgba`);
    say(`  pixel (0,0) of the canvas file is now rgba(${[...canvas.subarray(0, 4)].join(",")})`);
    ok &&= canvas[0] === 255 && canvas[2] === 255;
  }
  await blit.close();

  // 5. audiomixerd: a node graph, running, its stats.
  step("audiomixerd: tone → gain → device_sink, start, stats");
  const mixer = await AudiomixerdClient.connect(`${dir}/audiomixerd.sock`);
  const dev = await mixer.deviceOpen({ name: "default", rate: 48000, channels: 2, period: 128 });
  say(`  device_open → ${JSON.stringify(dev)}`);
  const tone = await mixer.createNode({ type: "tone", args: { freq: 440 } });
  const gain = await mixer.createNode({ type: "gain", args: { db: -6 } });
  const sink = await mixer.createNode({ type: "device_sink" });
  await mixer.connect({ from: tone.id, to: gain.id });
  await mixer.connect({ from: gain.id, to: sink.id });
  say(`  nodes ${tone.id} → ${gain.id} → ${sink.id}`);
  const stats = mixer.subscribe(["stats"]);
  await stats.ready;
  await mixer.start();
  for await (const ev of stats) {
    say(`  event ${JSON.stringify(ev)}`);
    break;
  }
  await mixer.stop();
  await mixer.close();
} catch (error) {
  ok = false;
  console.error("demo failed:", error);
} finally {
  sims.kill("SIGTERM");
  const status = await sims.status;
  await Deno.remove(dir, { recursive: true });
  step(`simulated services stopped (exit ${status.code})`);
  ok &&= status.code === 0;
}

say(ok ? "\ndemo: ok" : "\ndemo: FAILED");
Deno.exit(ok ? 0 : 1);
