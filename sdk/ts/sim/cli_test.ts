import assert from "node:assert/strict";
import { reactorIdle } from "../deno/ffi/mod.ts";
import { CiadClient } from "../services/ciad.ts";
import { CompositordClient } from "../services/compositord.ts";
import { CopperdClient } from "../services/copperd.ts";
import { SERVICES, startAll, startSim } from "./mod.ts";
import { rejectsWith, take, within } from "./test_util.ts";

const CLI = new URL("./cli.ts", import.meta.url).pathname;
const DENO = Deno.execPath();

/** Reads a child's stdout until `pattern` matched `count` lines; returns the lines. */
async function readLines(stream: ReadableStream<Uint8Array>, count: number): Promise<string[]> {
  const lines: string[] = [];
  let buffered = "";
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  try {
    while (lines.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        lines.push(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    }
  } finally {
    reader.releaseLock();
  }
  return lines;
}

function spawn(...args: string[]) {
  return new Deno.Command(DENO, {
    args: ["run", "-A", CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("cli: serves copperd on --socket, answers ping, exits 0 on SIGTERM", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "copperline-cli-" });
  const address = `${dir}/copperd.sock`;
  const child = spawn("copperd", "--socket", address);
  try {
    const [line] = await within(readLines(child.stdout, 1), 15_000, "serving line");
    assert.equal(line, `serving copperd on ${address}`);
    const client = await CopperdClient.connect(address);
    try {
      const pong = await client.ping();
      assert.equal(pong.name, "copperd");
      assert.equal(pong.protocol, 0);
      const { id } = await client.load({
        program: { version: 1, program: [{ op: "IRQ", tag: "x" }] },
      });
      assert.equal(id, 1);
    } finally {
      await client.close();
    }
    // A second server on the same address: exit 1 with a clear line.
    const second = await new Deno.Command(DENO, {
      args: ["run", "-A", CLI, "copperd", "--socket", address],
    }).output();
    assert.equal(second.code, 1);
    assert.match(new TextDecoder().decode(second.stderr), /already in use/);

    child.kill("SIGTERM");
    const status = await within(child.status, 10_000, "exit after SIGTERM");
    assert.equal(status.code, 0);
    assert.ok(
      !(() => {
        try {
          Deno.lstatSync(address);
          return true;
        } catch {
          return false;
        }
      })(),
      "socket file removed on close",
    );
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: all --dir serves every service; usage errors exit 2", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "copperline-cli-" });
  const child = spawn("all", "--dir", dir);
  try {
    const lines = await within(readLines(child.stdout, SERVICES.length), 15_000, "serving lines");
    assert.deepEqual(lines, SERVICES.map((s) => `serving ${s} on ${dir}/${s}.sock`));
    const ciad = await CiadClient.connect(`${dir}/ciad.sock`);
    assert.equal((await ciad.ping()).name, "ciad");
    await ciad.close();
    child.kill("SIGINT");
    assert.equal((await within(child.status, 10_000, "exit after SIGINT")).code, 0);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.stdout.cancel().catch(() => {});
    await child.stderr.cancel().catch(() => {});
    await child.status;
    Deno.removeSync(dir, { recursive: true });
  }
  await reactorIdle();

  const bad = await new Deno.Command(DENO, { args: ["run", "-A", CLI, "copperdd"] }).output();
  assert.equal(bad.code, 2);
  const err = new TextDecoder().decode(bad.stderr).trim();
  assert.equal(err.split("\n").length, 1, err);
  assert.match(err, /unknown service "copperdd"; valid services: copperd, compositord, blitterd/);
  const none = await new Deno.Command(DENO, { args: ["run", "-A", CLI] }).output();
  assert.equal(none.code, 2);
});

Deno.test("startSim: unknown service; startAll links copperd registers into compositord layers", async () => {
  await assert.rejects(() => startSim("nope"), /valid services: copperd/);
  const dir = Deno.makeTempDirSync({ prefix: "copperline-all-" });
  const all = await startAll((s) => `${dir}/${s}.sock`);
  const comp = await CompositordClient.connect(`${dir}/compositord.sock`);
  const copper = await CopperdClient.connect(`${dir}/copperd.sock`);
  try {
    assert.deepEqual(all.map((r) => r.service), [...SERVICES]);
    const { id: layer } = await comp.createLayer({});
    const { id } = await copper.load({
      program: {
        version: 1,
        program: [
          { op: "MOVE", reg: `layer[${layer}].x`, value: 320 },
          { op: "MOVE", reg: `layer[${layer}].visible`, value: true },
          { op: "IRQ", tag: "moved" },
        ],
      },
    });
    const irq = copper.subscribe(["irq"], { tag: "moved" });
    await irq.ready;
    await copper.start({ id });
    await within(take(irq, 1), 2000, "irq");
    // The writes latch at compositord's next vsync.
    const vs = comp.subscribe(["vsync"]);
    await vs.ready;
    await within(take(vs, 2), 2000, "vsync");
    // deno-lint-ignore no-explicit-any
    const shown = (all[1].sim as any).layer(layer);
    assert.equal(shown.regs.x, 320);
    assert.equal(shown.regs.visible, true);
    // The same address twice fails cleanly and names the service.
    await rejectsWith(
      startAll((s) => `${dir}/${s}.sock`).then(() => {
        throw new Error("second startAll succeeded");
      }),
      "EADDRINUSE",
    );
  } finally {
    await comp.close();
    await copper.close();
    await Promise.all(all.map((r) => r.stop()));
    await reactorIdle();
    Deno.removeSync(dir, { recursive: true });
  }
});
