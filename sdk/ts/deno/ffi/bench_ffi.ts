/**
 * Ping-pong benchmark: FFI transport vs `Deno.connect`, with and without one FD attached.
 *
 * ```sh
 * deno run -A sdk/ts/deno/ffi/bench_ffi.ts [iterations]            # unpinned
 * taskset -c 0 deno run -A sdk/ts/deno/ffi/bench_ffi.ts [iterations] # client+server on one core
 * ```
 *
 * The echo servers run in a child process (spawned from this script with `--serve`), so every
 * round trip crosses processes, as a real client/service pair does; an in-process variant (client
 * and server sharing one reactor) is measured too. Prints the median and mean round trip in µs.
 *
 * @module
 */

import type { Connection } from "../../core/transport.ts";
import { createMemfd, ffiPlatform } from "./mod.ts";

const LINE = new TextEncoder().encode('{"id":1,"cmd":"ping","args":{}}\n');

function ffiEcho(conn: Connection): void {
  conn.start({
    data(chunk, fds) {
      for (const h of fds ?? []) h.close();
      const p = conn.write(chunk);
      if (p) p.catch(() => {});
    },
    closed() {
      conn.close();
    },
  });
}

async function denoEcho(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      let off = 0;
      while (off < n) off += await conn.write(buf.subarray(off, n));
    }
  } catch { /* peer gone */ }
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function serve(dir: string): Promise<{ close(): Promise<void> }> {
  const ffiListener = await ffiPlatform.listen(`${dir}/ffi.sock`, ffiEcho);
  const denoListener = Deno.listen({ transport: "unix", path: `${dir}/deno.sock` });
  (async () => {
    try {
      for await (const conn of denoListener) denoEcho(conn);
    } catch { /* closed */ }
  })();
  return {
    async close() {
      await ffiListener.close();
      denoListener.close();
    },
  };
}

interface Stats {
  median: number;
  mean: number;
}

function stats(samples: number[]): Stats {
  const sorted = samples.slice().sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { median: sorted[sorted.length >> 1] * 1000, mean: mean * 1000 };
}

async function benchDeno(path: string, n: number, warmup: number): Promise<Stats> {
  const conn = await Deno.connect({ transport: "unix", path });
  const buf = new Uint8Array(64 * 1024);
  const samples: number[] = [];
  for (let i = 0; i < n + warmup; i++) {
    const t0 = performance.now();
    await conn.write(LINE);
    let got = 0;
    while (got < LINE.length) {
      const r = await conn.read(buf);
      if (r === null) throw new Error("server closed");
      got += r;
    }
    if (i >= warmup) samples.push(performance.now() - t0);
  }
  conn.close();
  return stats(samples);
}

async function benchFfi(
  address: string,
  n: number,
  warmup: number,
  withFd: boolean,
): Promise<Stats> {
  const conn = await ffiPlatform.connect(address);
  let pending = 0;
  let resolve: (() => void) | undefined;
  conn.start({
    data(chunk) {
      pending -= chunk.length;
      if (pending <= 0 && resolve) {
        const r = resolve;
        resolve = undefined;
        r();
      }
    },
    closed() {},
  });
  using memfd = createMemfd("bench", 4096);
  const fds = withFd ? [memfd.fd] : undefined;
  const samples: number[] = [];
  for (let i = 0; i < n + warmup; i++) {
    const t0 = performance.now();
    pending = LINE.length;
    const done = new Promise<void>((r) => (resolve = r));
    const w = conn.write(LINE, fds);
    if (w) await w;
    await done;
    if (i >= warmup) samples.push(performance.now() - t0);
  }
  conn.close();
  return stats(samples);
}

function row(name: string, s: Stats, base?: Stats): string {
  const ratio = base ? `  (${(s.median / base.median).toFixed(2)}× Deno.connect)` : "";
  return `${name.padEnd(44)} median ${s.median.toFixed(1).padStart(6)} µs   mean ${
    s.mean.toFixed(1).padStart(6)
  } µs${ratio}`;
}

async function run(dir: string, n: number, warmup: number, label: string): Promise<void> {
  const deno = await benchDeno(`${dir}/deno.sock`, n, warmup);
  const ffi = await benchFfi(`${dir}/ffi.sock`, n, warmup, false);
  const ffiFd = await benchFfi(`${dir}/ffi.sock`, n, warmup, true);
  console.log(`\n${label} (${n} round trips, ${LINE.length}-byte line):`);
  console.log(row("Deno.connect ↔ Deno.listen", deno));
  console.log(row("FFI ↔ FFI, no FD", ffi, deno));
  console.log(row("FFI ↔ FFI, 1 FD per request", ffiFd, deno));
}

if (Deno.args[0] === "--serve") {
  const server = await serve(Deno.args[1]);
  console.log("ready");
  // Exit when the parent closes our stdin.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await server.close();
} else {
  const n = Number(Deno.args[0] ?? 20000);
  const warmup = Math.min(2000, n);
  const dir = Deno.makeTempDirSync({ prefix: "bench-ffi-" });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", new URL(import.meta.url).pathname, "--serve", dir],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    if (!new TextDecoder().decode(value).includes("ready")) throw new Error("server did not start");
    await run(dir, n, warmup, "Cross-process (server in a child process)");
    await child.stdin.close();
    reader.releaseLock();
    await child.stdout.cancel();
    await child.status;

    const local = await serve(dir);
    await run(dir, n, warmup, "In-process (client and server in this process)");
    await local.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}
