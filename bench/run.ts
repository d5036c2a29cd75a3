/**
 * Benchmarks of the Deno SDK against raw baselines measured in the same run (machines are noisy:
 * only ratios mean anything). Servers run in child processes; the client runs here.
 *
 *   deno task bench [--quick] [--json]
 *
 * 1. sequential round trip: generated client `echo()` vs a raw NDJSON ping-pong
 * 2. pipelined throughput (64 in flight): same pair
 * 3. event stream: `for await` over a subscription vs a raw read + JSON.parse loop
 * 4. FD-carrying call (memfd, FFI transport) vs a plain call on the same FFI connection
 * 5. wall time to regenerate every bundled schema (in process, and the whole CLI)
 *
 * @module
 */

import { parseArgs } from "node:util";
import { RawClient } from "./_raw.ts";
import { EchoClient } from "../tests/golden/ts/echo.ts";
import { connect } from "../sdk/ts/mod.ts";
import { createMemfd, writeFd } from "../sdk/ts/deno/ffi/mod.ts";
import { generate, loadService } from "../codegen/mod.ts";
import { readTemplates } from "../templates/mod.ts";
import { emitters } from "../codegen/targets.ts";

const { values } = parseArgs({ args: Deno.args, options: { quick: { type: "boolean" }, json: { type: "boolean" } } });
const quick = values.quick ?? false;
const ROUNDS = quick ? 3_000 : 20_000;
const PIPELINED = quick ? 20_000 : 200_000;
const EVENTS = quick ? 100_000 : 1_000_000;
const REPEATS = quick ? 3 : 5;

const dir = await Deno.makeTempDir({ prefix: "clp-bench-" });
const children: Deno.ChildProcess[] = [];

async function server(mode: "raw" | "sdk" | "sdk-fd"): Promise<string> {
  const path = `${dir}/${mode}.sock`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_server.ts", import.meta.url).pathname, mode, path],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  children.push(child);
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  if (!new TextDecoder().decode(value).includes("ready")) throw new Error(`${mode} server did not start`);
  return path;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs `fn` REPEATS times after a warm-up and returns the median of its results. */
async function best(fn: () => Promise<number>): Promise<number> {
  await fn();
  const r: number[] = [];
  for (let i = 0; i < REPEATS; i++) r.push(await fn());
  return median(r);
}

/**
 * Runs a baseline and the SDK alternately (warm-up, then REPEATS rounds of each) so both see the
 * same machine conditions, and returns the medians.
 */
async function pair(base: () => Promise<number>, sdk: () => Promise<number>): Promise<[number, number]> {
  await base();
  await sdk();
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    a.push(await base());
    b.push(await sdk());
  }
  return [median(a), median(b)];
}

const rawPath = await server("raw");
const sdkPath = await server("sdk");
const fdPath = await server("sdk-fd");

const raw = await RawClient.connect(rawPath);
const sdk = await EchoClient.connect(sdkPath, { fdPassing: false });
const fdc = await EchoClient.connect(fdPath, { fdPassing: true });

// 1. Sequential round trip (µs per call). Many short paired rounds, alternating which goes first;
// the ratio is taken within each round and its median reported (drift between rounds cancels).
let rid = 0;
const RTT_ROUNDS = quick ? 9 : 31, RTT_ITERS = quick ? 1_000 : 2_000;
const rawRound = async () => {
  const t0 = performance.now();
  for (let i = 0; i < RTT_ITERS; i++) {
    await raw.send([`{"id":${++rid},"cmd":"echo","args":{"text":"ping"}}`]);
    await raw.receive(1);
  }
  return ((performance.now() - t0) / RTT_ITERS) * 1000;
};
const sdkRound = async () => {
  const t0 = performance.now();
  for (let i = 0; i < RTT_ITERS; i++) await sdk.echo({ text: "ping" });
  return ((performance.now() - t0) / RTT_ITERS) * 1000;
};
await rawRound();
await sdkRound();
const rttRaw: number[] = [], rttSdk: number[] = [], rttRatio: number[] = [];
for (let r = 0; r < RTT_ROUNDS; r++) {
  const first = r % 2 === 0 ? rawRound : sdkRound, second = r % 2 === 0 ? sdkRound : rawRound;
  const a = await first(), b = await second();
  const [rr, ss] = r % 2 === 0 ? [a, b] : [b, a];
  rttRaw.push(rr);
  rttSdk.push(ss);
  rttRatio.push(ss / rr);
}
const quantile = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.round(q * (xs.length - 1))];
const rawRtt = median(rttRaw), sdkRtt = median(rttSdk), rttRatioMedian = median(rttRatio);
const rttSpread = `${quantile(rttRatio, 0.25).toFixed(2)}–${quantile(rttRatio, 0.75).toFixed(2)}`;

// 2. Pipelined throughput (messages per second, 64 in flight).
const WINDOW = 64;
const [rawPipe, sdkPipe] = await pair(async () => {
  // Strongest raw form: every read's worth of responses is answered by one batched write.
  const t0 = performance.now();
  const line = () => `{"id":${++rid},"cmd":"echo","args":{"text":"ping"}}`;
  let sent = WINDOW;
  await raw.send(Array.from({ length: WINDOW }, line));
  let got = 0;
  while (got < PIPELINED) {
    const n = await raw.receiveSome();
    got += n;
    const more = Math.min(n, PIPELINED - sent);
    if (more > 0) {
      sent += more;
      await raw.send(Array.from({ length: more }, line));
    }
  }
  return PIPELINED / ((performance.now() - t0) / 1000);
}, async () => {
  const t0 = performance.now();
  let sent = 0;
  const lane = async () => {
    while (sent < PIPELINED) {
      sent++;
      await sdk.echo({ text: "ping" });
    }
  };
  await Promise.all(Array.from({ length: WINDOW }, lane));
  return PIPELINED / ((performance.now() - t0) / 1000);
});

// 3. Event stream (events per second received and parsed by the client). Both clients read the
// same bytes from the same raw producer, so the row measures the client: the SDK's framing,
// dispatch and `for await` against a raw read + JSON.parse loop.
const sdkOnRaw = await connect(rawPath);
const [rawEvents, sdkEvents] = await pair(async () => {
  const t0 = performance.now();
  await raw.send([`{"id":${++rid},"cmd":"flood","args":{"count":${EVENTS}}}`]);
  await raw.receive(EVENTS + 1);
  return EVENTS / ((performance.now() - t0) / 1000);
}, async () => {
  const sub = sdkOnRaw.subscribe<{ n: number }>(["tick"]);
  await sub.ready;
  const t0 = performance.now();
  const done = sdkOnRaw.request("flood", { count: EVENTS });
  let n = 0;
  while (n < EVENTS) {
    const { value } = await sub.next();
    if ((value as { event: string }).event === "dropped") throw new Error("events were dropped");
    n++;
  }
  await done;
  sub._fail(); // the raw producer knows no unsubscribe
  return EVENTS / ((performance.now() - t0) / 1000);
});
await sdkOnRaw.close();
// End to end, for information: the SDK server's fan-out to the generated client.
const e2eEvents = await best(async () => {
  const sub = sdk.subscribe(["tick"]);
  await sub.ready;
  const t0 = performance.now();
  const done = sdk.emit({ count: EVENTS, tag: "b" });
  let n = 0;
  for await (const ev of sub) {
    if (ev.event === "dropped") throw new Error("events were dropped");
    if (++n === EVENTS) break;
  }
  await done;
  return EVENTS / ((performance.now() - t0) / 1000);
});

// 4. FD-carrying call vs plain call on the same FFI connection.
const FD_ROUNDS = Math.floor(ROUNDS / 2);
const memfd = createMemfd("bench", 64);
writeFd(memfd, new Uint8Array(64).fill(1), 0);
const [plainFfi, fdCall] = await pair(async () => {
  const t0 = performance.now();
  for (let i = 0; i < FD_ROUNDS; i++) await fdc.echo({ text: "ping" });
  return ((performance.now() - t0) / FD_ROUNDS) * 1000;
}, async () => {
  const t0 = performance.now();
  for (let i = 0; i < FD_ROUNDS; i++) await fdc.fdsum({ fd: memfd });
  return ((performance.now() - t0) / FD_ROUNDS) * 1000;
});
memfd.close();

// 5. Regeneration.
const root = new URL("../", import.meta.url);
const templates = await readTemplates(new URL("templates/", root));
const schemaFiles = [...Deno.readDirSync(new URL("schemas/", root))].filter((e) => e.name.endsWith(".json")).map((e) => e.name).sort();
const genMs = await best(async () => {
  const t0 = performance.now();
  const models = await Promise.all(schemaFiles.map(async (f) => loadService(`schemas/${f}`, await Deno.readTextFile(new URL(`schemas/${f}`, root)))));
  await generate(models, {
    targets: ["ts", ...Object.keys(emitters)] as ("ts" | "c" | "docs")[],
    imports: { runtime: "../mod.ts", validatorRuntime: "../core/_validator_runtime.ts" },
    templates,
    emitters,
  });
  return performance.now() - t0;
});
const cliStart = performance.now();
const cli = await new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("codegen/cli.ts", root).pathname, "generate", "--check"],
  stderr: "null",
}).output();
const cliMs = performance.now() - cliStart;

await sdk.close();
await fdc.close();
raw.close();
for (const c of children) c.kill("SIGTERM");
await Promise.all(children.map((c) => c.status));
await Deno.remove(dir, { recursive: true });

const rows = [
  { name: `round trip (µs, lower is better; median of ${RTT_ROUNDS} paired rounds, middle half ${rttSpread}×)`, raw: rawRtt, sdk: sdkRtt, ratio: rttRatioMedian, target: "≤ 1.15× raw", ok: rttRatioMedian <= 1.15 },
  { name: "pipelined, 64 in flight (msg/s)", raw: rawPipe, sdk: sdkPipe, ratio: sdkPipe / rawPipe, target: "≥ 0.85× raw", ok: sdkPipe / rawPipe >= 0.85 },
  { name: "event stream (events/s)", raw: rawEvents, sdk: sdkEvents, ratio: sdkEvents / rawEvents, target: "≥ 0.85× raw", ok: sdkEvents / rawEvents >= 0.85 },
  { name: "event stream end to end, SDK server → SDK client (events/s, info)", raw: rawEvents, sdk: e2eEvents, ratio: e2eEvents / rawEvents, target: "-", ok: true },
  { name: "FD call vs plain call, FFI (µs)", raw: plainFfi, sdk: fdCall, ratio: fdCall / plainFfi, target: "≤ 1.5× plain", ok: fdCall / plainFfi <= 1.5 },
  { name: "regenerate all schemas (ms, in process)", raw: NaN, sdk: genMs, ratio: NaN, target: "< 2000 ms", ok: genMs < 2000 },
  { name: "regenerate all schemas (ms, whole CLI --check)", raw: NaN, sdk: cliMs, ratio: NaN, target: "< 2000 ms", ok: cliMs < 2000 && cli.code === 0 },
];

if (values.json) {
  console.log(JSON.stringify(rows, null, 2));
} else {
  const fmt = (x: number) => Number.isNaN(x) ? "-" : x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(1);
  console.log(`copperline-ports Deno bench (${quick ? "quick" : "full"}; medians of ${REPEATS}; ${Deno.build.target}, deno ${Deno.version.deno})`);
  console.log("| measure | baseline | SDK | ratio | target | met |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.name} | ${fmt(r.raw)} | ${fmt(r.sdk)} | ${Number.isNaN(r.ratio) ? "-" : r.ratio.toFixed(2) + "×"} | ${r.target} | ${r.ok ? "yes" : "NO"} |`);
  }
}
