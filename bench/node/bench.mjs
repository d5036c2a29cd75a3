/**
 * Node bench, one run: the generated Node client (@copperline/ports) against a Node-served stub,
 * compared with a raw node:net NDJSON ping-pong and with vscode-jsonrpc, over Unix sockets with
 * each server in its own child process (bench/node/server.mjs). Machines are noisy: only the
 * ratios within one run mean anything.
 *
 *   node npm/build.mjs && node tests/node/prepare.mjs   # the package and the echo stub it serves
 *   node bench/node/bench.mjs [--quick] [--json]
 *
 * Per transport: sequential round trip (one `echo` call at a time: median and mean µs per call) and pipelined
 * throughput (64 calls in flight: calls per second). Targets (issue #5): the package's client at
 * least 2× faster per round trip than vscode-jsonrpc and at least 10× its pipelined throughput.
 */

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LIB = join(ROOT, "build/node-pkg-tests/lib");
if (!existsSync(join(LIB, "echo_node.js")) || !existsSync(join(ROOT, "dist/npm/package.json"))) {
  console.error("bench: build first: node npm/build.mjs && node tests/node/prepare.mjs");
  process.exit(2);
}

const { values } = parseArgs({
  options: { quick: { type: "boolean" }, json: { type: "boolean" } },
});
const quick = values.quick ?? false;
const ROUNDS = quick ? 2_000 : 10_000;
const PIPELINED = quick ? 10_000 : 50_000;
const WINDOW = 64;
const REPEATS = quick ? 3 : 5;
/** Warm-up per transport before measuring (JIT tiers and heap sizing of client and server). */
const WARM_MS = quick ? 1_000 : 3_000;

const dir = mkdtempSync(join(tmpdir(), "clp-node-bench-"));
const children = [];

function server(mode) {
  const path = join(dir, `${mode}.sock`);
  const child = spawn(process.execPath, [
    fileURLToPath(new URL("./server.mjs", import.meta.url)),
    mode,
    path,
  ], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("ready")) resolve({ path, pid: child.pid });
    });
    child.on("exit", (code) => reject(new Error(`${mode} server exited (${code})`)));
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One call at a time: the median and the mean µs per call (the VM's scheduling tails move the mean). */
async function roundTrip(call) {
  const times = new Float64Array(ROUNDS);
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    await call(i);
    times[i] = performance.now() - t;
  }
  const mean = ((performance.now() - t0) * 1000) / ROUNDS;
  times.sort();
  return { median: times[ROUNDS >> 1] * 1000, mean };
}

/** Calls per second with WINDOW calls in flight. */
/** CPU time (ns) of every thread of process `pid` so far (/proc/<pid>/task/<tid>/schedstat). */
function cpuNs(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return total;
}

/**
 * WINDOW calls in flight: calls per second, and the CPU µs per call spent by this process and
 * the server's (all threads); its ratios move less with load from other processes than wall time.
 */
async function pipelined(call, serverPid) {
  const c0 = cpuNs(process.pid), s0 = cpuNs(serverPid);
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < PIPELINED) await call(next++);
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
  const tput = PIPELINED / ((performance.now() - t0) / 1000);
  const cpu = (cpuNs(process.pid) - c0 + cpuNs(serverPid) - s0) / 1000 / PIPELINED;
  return { tput, cpu };
}

/**
 * The raw baseline client: node:net, NDJSON, ids matched in a Map, JSON.parse per line; the lines
 * written in one tick go out in one write (as the SDK's channel does).
 */
async function rawClient(path) {
  const socket = net.createConnection({ path });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  socket.setEncoding("utf8");
  const pending = new Map();
  let rest = "";
  let seq = 0;
  socket.on("data", (text) => {
    text = rest + text;
    let start = 0, nl;
    while ((nl = text.indexOf("\n", start)) >= 0) {
      const m = JSON.parse(text.slice(start, nl));
      start = nl + 1;
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(m.error.message));
    }
    rest = text.slice(start);
  });
  let out = "";
  const flush = () => {
    socket.write(out);
    out = "";
  };
  return {
    call(cmd, args) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        if (out === "") queueMicrotask(flush);
        out += JSON.stringify({ id, cmd, args }) + "\n";
      });
    },
    close: () => socket.destroy(),
  };
}

async function jsonrpcClient(path) {
  const rpcModule = await import("vscode-jsonrpc/node");
  const rpc = rpcModule.default ?? rpcModule;
  const socket = net.createConnection({ path });
  await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const conn = rpc.createMessageConnection(
    new rpc.StreamMessageReader(socket),
    new rpc.StreamMessageWriter(socket),
  );
  conn.listen();
  return {
    call: (cmd, args) => conn.sendRequest(cmd, args),
    close() {
      conn.dispose();
      socket.destroy();
    },
  };
}

async function sdkClient(path, fdPassing) {
  const { EchoClient } = await import(join(LIB, "echo.js"));
  const client = await EchoClient.connect(path, { fdPassing });
  return {
    transport: client.port,
    call: (_cmd, args) => client.echo(args),
    close: () => client.close(),
  };
}

/**
 * Starts every server and client, warms each up for WARM_MS, then measures them interleaved —
 * REPEATS rounds, each round every transport once (round trip, then pipelined) — so that load
 * from other processes hits them alike; the result per transport is the median over the rounds.
 */
async function measureAll(specs) {
  const subjects = [];
  for (const [name, mode, connect] of specs) {
    const { path, pid } = await server(mode);
    const client = await connect(path);
    const check = await client.call("echo", { text: "check", n: 7 });
    if (check.text !== "check" || check.n !== 7) {
      throw new Error(`${name}: wrong answer ${JSON.stringify(check)}`);
    }
    subjects.push({ name, client, pid, rt: [], tput: [] });
  }
  // Warm-up: both loops for WARM_MS per transport (the generated stub and client keep getting
  // faster for a few hundred thousand calls as V8 optimises them, in both processes).
  for (const s of subjects) {
    const call = (i) => s.client.call("echo", { text: "ping", n: i });
    const end = performance.now() + WARM_MS;
    while (performance.now() < end) {
      await roundTrip(call);
      await pipelined(call, s.pid);
    }
  }
  for (let round = 0; round < REPEATS; round++) {
    for (const s of subjects) {
      const call = (i) => s.client.call("echo", { text: "ping", n: i });
      s.rt.push(await roundTrip(call));
      s.tput.push(await pipelined(call, s.pid));
    }
  }
  for (const s of subjects) s.client.close();
  return subjects.map((s) => ({
    name: s.name,
    rtUs: median(s.rt.map((r) => r.median)),
    rtMeanUs: median(s.rt.map((r) => r.mean)),
    tput: median(s.tput.map((t) => t.tput)),
    cpuUs: median(s.tput.map((t) => t.cpu)),
  }));
}

let results;
try {
  results = await measureAll([
    ["raw node:net NDJSON (no SDK)", "raw", rawClient],
    ["@copperline/ports client → Node stub (node:net)", "stub", (p) => sdkClient(p, false)],
    [
      "@copperline/ports client → Node stub (node-ffi, FD-capable)",
      "stub-fd",
      (p) => sdkClient(p, true),
    ],
    ["vscode-jsonrpc 10 (Content-Length framing)", "jsonrpc", jsonrpcClient],
  ]);
} finally {
  for (const c of children) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

const [raw, sdk, sdkFd, rpc] = results;
const rows = results.map((r) => ({
  ...r,
  rtVsRpc: rpc.rtUs / r.rtUs,
  tputVsRpc: r.tput / rpc.tput,
  rtVsRaw: raw.rtUs / r.rtUs,
  tputVsRaw: r.tput / raw.tput,
  cpuVsRpc: rpc.cpuUs / r.cpuUs,
}));
const targets = [sdk, sdkFd].map((r) => ({
  name: r.name,
  roundTrip: { ratio: rpc.rtUs / r.rtUs, target: 2, met: rpc.rtUs / r.rtUs >= 2 },
  pipelined: { ratio: r.tput / rpc.tput, target: 10, met: r.tput / rpc.tput >= 10 },
  pipelinedCpu: { ratio: rpc.cpuUs / r.cpuUs },
}));

if (values.json) {
  console.log(
    JSON.stringify(
      {
        node: process.version,
        rounds: ROUNDS,
        pipelined: PIPELINED,
        window: WINDOW,
        repeats: REPEATS,
        warmMs: WARM_MS,
        rows,
        targets,
      },
      null,
      2,
    ),
  );
} else {
  const f = (x, d = 1) => x.toFixed(d);
  console.log(
    `Node ${process.version}, Unix sockets, servers in child processes; median of ${REPEATS} interleaved rounds`,
  );
  console.log(
    `round trip: ${ROUNDS} sequential echo calls; pipelined: ${PIPELINED} calls, ${WINDOW} in flight; ` +
      `${WARM_MS / 1000} s warm-up each\n`,
  );
  const head = [
    "transport",
    "round trip µs (median)",
    "(mean)",
    "× jsonrpc",
    "× raw",
    "pipelined calls/s",
    "× jsonrpc",
    "× raw",
    "CPU µs/call",
    "× jsonrpc",
  ];
  const table = rows.map((r) => [
    r.name,
    f(r.rtUs),
    f(r.rtMeanUs),
    f(r.rtVsRpc, 2),
    f(r.rtVsRaw, 2),
    Math.round(r.tput).toLocaleString("en-US"),
    f(r.tputVsRpc, 2),
    f(r.tputVsRaw, 2),
    f(r.cpuUs, 2),
    f(r.cpuVsRpc, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells) =>
    "| " +
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  console.log(line(head));
  console.log(
    "|" + widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|") +
      "|",
  );
  for (const row of table) console.log(line(row));
  console.log(
    "\n× jsonrpc: round trip, how many times faster the median call is than vscode-jsonrpc's; pipelined,\n" +
      "the throughput ratio; CPU µs/call: client + server CPU time (all threads) per pipelined call, and\n" +
      "how many times less than vscode-jsonrpc's (its ratio moves less with load than wall time)\n",
  );
  for (const t of targets) {
    console.log(`${t.name}:`);
    console.log(
      `  round trip ≥ 2× vscode-jsonrpc: ${f(t.roundTrip.ratio, 2)}× — ${
        t.roundTrip.met ? "met" : "NOT met"
      }`,
    );
    console.log(
      `  pipelined ≥ 10× vscode-jsonrpc: ${f(t.pipelined.ratio, 2)}× — ${
        t.pipelined.met ? "met" : "NOT met"
      } (CPU per call: ${f(t.pipelinedCpu.ratio, 2)}× less)`,
    );
  }
}
process.exit(0);
