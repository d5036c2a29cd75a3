/**
 * Round-trip benchmark of the Node transports: `node:net` vs the koffi FFI platform (reactor in
 * `pool` mode — epoll_wait on a libuv pool thread — and in `uvpoll` mode — a uv_poll on the epoll
 * descriptor). Client and server are separate processes, as in docs' platform notes.
 *
 *   node build/node/node/ffi/bench_ffi.js [rounds=20000] [--pin]
 *
 * `--pin` runs both processes on CPU 0 (`taskset`), which removes the VM's cross-core wake-up.
 * Prints, per variant, the median and p99 ping-pong round trip of a small NDJSON line, and the
 * pipelined rate with 64 lines in flight.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Connection, Platform } from "../../core/transport.ts";
import { nodePlatform } from "../net_platform.ts";

const self = fileURLToPath(import.meta.url);
const LINE = new TextEncoder().encode(`{"id":1,"cmd":"ping","args":{}}\n`);

async function platform(name: string): Promise<Platform> {
  if (name === "net") return nodePlatform;
  return (await import("./platform.ts")).nodeFfiPlatform;
}

async function serve(name: string, address: string): Promise<void> {
  const p = await platform(name);
  const listener = await p.listen(address, (c) => {
    c.start({
      data(chunk) {
        const r = c.write(chunk);
        if (r) r.catch(() => {});
      },
      closed() {
        void listener.close();
      },
    });
  });
  process.stdout.write("ready\n");
}

function lineCounter(c: Connection): { wait(lines: number): Promise<void>; received(): number } {
  let count = 0;
  let target = 0;
  let resolve: (() => void) | undefined;
  c.start({
    data(chunk) {
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) count++;
      if (resolve && count >= target) {
        const r = resolve;
        resolve = undefined;
        r();
      }
    },
    closed() {},
  });
  return {
    wait(lines: number) {
      if (count >= lines) return Promise.resolve();
      target = lines;
      return new Promise<void>((r) => (resolve = r));
    },
    received: () => count,
  };
}

async function client(name: string, address: string, rounds: number): Promise<void> {
  const p = await platform(name);
  const c = await p.connect(address);
  const lines = lineCounter(c);
  let sent = 0;
  const send = async (bytes: Uint8Array, n: number) => {
    sent += n;
    const r = c.write(bytes);
    if (r) await r;
  };
  // Warm-up.
  for (let i = 0; i < 2000; i++) {
    await send(LINE, 1);
    await lines.wait(sent);
  }
  const samples = new Float64Array(rounds);
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    await send(LINE, 1);
    await lines.wait(sent);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  samples.sort();
  // Pipelined: 64 lines in flight, refilled as replies arrive (batched per read).
  const total = rounds * 5;
  const window = 64;
  const t0 = process.hrtime.bigint();
  await send(repeat(LINE, window), window);
  while (sent < total) {
    await lines.wait(sent - window + 1);
    const room = Math.min(window - (sent - lines.received()), total - sent);
    if (room > 0) await send(repeat(LINE, room), room);
  }
  await lines.wait(total);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  c.close();
  process.stdout.write(
    JSON.stringify({
      median: samples[Math.floor(rounds / 2)],
      p99: samples[Math.floor(rounds * 0.99)],
      pipelined: total / seconds,
    }) + "\n",
  );
}

const repeatCache = new Map<number, Uint8Array>();
function repeat(line: Uint8Array, n: number): Uint8Array {
  let out = repeatCache.get(n);
  if (!out) {
    out = new Uint8Array(line.length * n);
    for (let i = 0; i < n; i++) out.set(line, i * line.length);
    repeatCache.set(n, out);
  }
  return out;
}

function run(args: string[], env: Record<string, string>, pin: boolean): ReturnType<typeof spawn> {
  const cmd = pin ? "taskset" : process.execPath;
  const argv = pin ? ["-c", "0", process.execPath, self, ...args] : [self, ...args];
  return spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === "--serve") return serve(args[1], args[2]);
  if (args[0] === "--client") return client(args[1], args[2], Number(args[3]));
  const rounds = Number(args.find((a) => /^\d+$/.test(a)) ?? 20000);
  const pin = args.includes("--pin") && spawnSync("taskset", ["-c", "0", "true"]).status === 0;
  const dir = mkdtempSync(join(tmpdir(), "clp-bench-"));
  const variants: { label: string; platform: string; reactor?: string }[] = [
    { label: "node:net", platform: "net" },
    { label: "node-ffi (pool: epoll_wait on a libuv thread)", platform: "ffi", reactor: "pool" },
    { label: "node-ffi (uvpoll: uv_poll on the epoll fd)", platform: "ffi", reactor: "uvpoll" },
  ];
  console.log(`rounds ${rounds}, ${pin ? "both processes pinned to CPU 0" : "unpinned"}, line ${LINE.length} bytes`);
  try {
    for (const v of variants) {
      const address = join(dir, `${v.platform}-${v.reactor ?? "net"}.sock`);
      const env = { COPPERLINE_NODE_REACTOR: v.reactor ?? "pool" };
      const server = run(["--serve", v.platform, address], env, pin);
      await new Promise<void>((resolve) => server.stdout!.once("data", () => resolve()));
      const c = run(["--client", v.platform, address, String(rounds)], env, pin);
      let out = "";
      c.stdout!.on("data", (d) => (out += d));
      await new Promise((r) => c.on("exit", r));
      server.kill();
      const r = JSON.parse(out) as { median: number; p99: number; pipelined: number };
      console.log(
        `${v.label.padEnd(48)} round trip median ${r.median.toFixed(1).padStart(6)} µs, p99 ${
          r.p99.toFixed(1).padStart(6)
        } µs; pipelined ${(r.pipelined / 1e3).toFixed(0).padStart(5)} k msg/s`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
