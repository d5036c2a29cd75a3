/**
 * Soak test (not part of the test command): a long mixed run against the hardening test service in
 * a child process.
 *
 *   deno run -A scripts/soak.ts [--seconds 60] [--clients 50] [--fuzzers 4] [--churners 4] [--subscribers 8]
 *
 * Runs at once: good clients sending pipelined requests whose answers are checked by content,
 * subscribers (plus one that stalls and reads only at the end) whose received + dropped counts must
 * equal the events emitted, fuzzers sending fast-check inputs (random bytes, mutated requests,
 * oversized lines) and churners disconnecting abruptly mid-request. Prints load held (req/s),
 * faults injected, inputs tried, anything lost (missing or mismatched responses, events
 * unaccounted for), and the server's FD count and RSS before/after. Exits 1 if anything was lost,
 * a descriptor leaked, or the server died.
 *
 * @module
 */

import fc from "fast-check";
import type { PortClient } from "../sdk/ts/mod.ts";
import { fuzzInput } from "../tests/hardening/_arbitraries.ts";
import {
  client,
  fdCount,
  RawConn,
  rssOf,
  startChildServer,
  waitFor,
} from "../tests/hardening/_fixture.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const SECONDS = flag("seconds", 60);
const CLIENTS = flag("clients", 50);
const FUZZERS = flag("fuzzers", 4);
const CHURNERS = flag("churners", 4);
const SUBSCRIBERS = flag("subscribers", 8);
const mib = (b: number) => (b / 1024 / 1024).toFixed(1) + " MiB";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const child = await startChildServer({ maxConnections: 8192 });
const stats = {
  requests: 0,
  mismatched: 0,
  lost: 0,
  busy: 0,
  fuzzInputs: 0,
  fuzzProbeFailures: 0,
  disconnects: 0,
  backlogFull: 0,
  emitted: 0,
};
let running = true;
let exitCode = 0;

try {
  const control = await client(child.address, { timeout: 30_000 });
  await control.ping();
  await sleep(300);
  const fdsBefore = fdCount(child.pid);
  const rssBefore = rssOf(child.pid);
  let rssPeak = rssBefore;

  // Subscribers: all subscribed before any event is emitted, so each must account for all of them.
  const subscribers: { c: PortClient; got: number; dropped: number; done: Promise<void> }[] = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const c = await client(child.address);
    const sub = c.subscribe(["tick"]);
    await sub.ready;
    const s = { c, got: 0, dropped: 0, done: Promise.resolve() };
    s.done = (async () => {
      try {
        for await (const ev of sub) {
          if (ev.event === "dropped") s.dropped += (ev as { count: number }).count;
          else s.got++;
        }
      } catch { /* closed at the end */ }
    })();
    subscribers.push(s);
  }
  const stalled = await RawConn.open(child.address);
  await stalled.sendJson({ id: 1, cmd: "subscribe", args: { events: ["tick"] } });
  const stalledSub = ((await stalled.readJson()).result as { sub: number }).sub;

  const tasks: Promise<void>[] = [];
  // Emitter: 200 events every 20 ms.
  tasks.push((async () => {
    while (running) {
      const r = await control.request<{ queued: number }>("emit", { count: 200 });
      void r;
      stats.emitted += 200;
      await sleep(20);
    }
  })());
  // Good clients.
  const goods = await Promise.all(
    Array.from({ length: CLIENTS }, () => client(child.address, { timeout: 30_000 })),
  );
  for (const [ci, c] of goods.entries()) {
    tasks.push((async () => {
      let n = 0;
      while (running) {
        const batch = Array.from({ length: 10 }, () => {
          const args = { c: ci, n: n++, r: Math.random() };
          return c.request<typeof args>("echo", args).then(
            (res) => {
              stats.requests++;
              if (res.c !== args.c || res.n !== args.n || res.r !== args.r) stats.mismatched++;
            },
            (e) => {
              if ((e as { code?: string }).code === "BUSY") stats.busy++;
              else stats.lost++;
            },
          );
        });
        await Promise.all(batch);
      }
    })());
  }
  // Fuzzers.
  for (let f = 0; f < FUZZERS; f++) {
    tasks.push((async () => {
      while (running) {
        const [chunks] = fc.sample(fuzzInput, 1);
        stats.fuzzInputs++;
        let raw: RawConn;
        try {
          raw = await RawConn.open(child.address);
        } catch {
          stats.backlogFull++;
          await sleep(5);
          continue;
        }
        try {
          for (const chunk of chunks) await raw.send(chunk);
          if (stats.fuzzInputs % 2 === 0) {
            await raw.send('\n{"id":"__probe","cmd":"ping"}\n');
            await raw.readUntil((m) => m.id === "__probe", 10_000);
          }
        } catch {
          stats.fuzzProbeFailures++;
        } finally {
          raw.close();
        }
      }
    })());
  }
  // Churners: abrupt disconnects mid-request.
  for (let k = 0; k < CHURNERS; k++) {
    tasks.push((async () => {
      let i = 0;
      while (running) {
        let raw: RawConn;
        try {
          raw = await RawConn.open(child.address);
        } catch {
          stats.backlogFull++;
          await sleep(5);
          continue;
        }
        const lines = i++ % 3 === 0
          ? '{"id":1,"cmd":"slow","args":{"ms":100}}\n'
          : i % 3 === 1
          ? '{"id":1,"cmd":"subscribe","args":{"events":["tick"]}}\n{"id":2,"cmd":"echo","args":{"x":"'
          : Array.from({ length: 10 }, (_, j) =>
            JSON.stringify({ id: j, cmd: "echo", args: { j } }))
            .join("\n") + "\n";
        try {
          await raw.send(lines);
        } catch { /* the server may be busy closing */ }
        raw.close();
        stats.disconnects++;
        await sleep(1);
      }
    })());
  }

  // Progress.
  const t0 = performance.now();
  let lastReq = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    await sleep(1000);
    const rss = rssOf(child.pid);
    rssPeak = Math.max(rssPeak, rss);
    const s = Math.round((performance.now() - t0) / 1000);
    console.log(
      `[${String(s).padStart(4)} s] ${
        stats.requests - lastReq
      } req/s, ${stats.disconnects} disconnects, ${stats.fuzzInputs} fuzz inputs, lost ${stats.lost}, mismatched ${stats.mismatched}, server RSS ${
        mib(rss)
      }, FDs ${fdCount(child.pid)}`,
    );
    lastReq = stats.requests;
  }
  running = false;
  await Promise.all(tasks);
  const elapsed = (performance.now() - t0) / 1000;

  // Settle: every subscriber must account for every emitted event.
  await control.ping();
  const accounted = () => subscribers.every((s) => s.got + s.dropped >= stats.emitted);
  await waitFor(accounted, 10_000, 20);
  let stalledGot = 0, stalledDropped = 0;
  await stalled.sendJson({ id: "end", cmd: "ping" });
  let sawEnd = false;
  while (!sawEnd || stalledGot + stalledDropped < stats.emitted) {
    const m = await stalled.readJson(10_000).catch(() => undefined);
    if (m === undefined) break;
    if (m.event === "tick" && m.sub === stalledSub) stalledGot++;
    else if (m.event === "dropped" && m.sub === stalledSub) stalledDropped += m.count as number;
    else if (m.id === "end") sawEnd = true;
  }
  stalled.close();
  const eventMismatch = subscribers.filter((s) => s.got + s.dropped !== stats.emitted).length +
    (stalledGot + stalledDropped === stats.emitted ? 0 : 1);

  for (const s of subscribers) await s.c.close();
  await Promise.all(goods.map((c) => c.close()));
  const settled = await waitFor(
    async () => (await control.request<{ sessions: number }>("stats")).sessions === 1,
    10_000,
    50,
  );
  await sleep(300);
  const fdsAfter = fdCount(child.pid);
  const rssAfter = rssOf(child.pid);
  const alive = await control.ping().then(() => true, () => false);
  await control.close();

  const subTotals = subscribers.map((s) => `${s.got}+${s.dropped}`).join(", ");
  console.log(`\nsoak: ${elapsed.toFixed(0)} s against hardtest (child pid ${child.pid})`);
  console.log(
    `  load held:        ${
      (stats.requests / elapsed).toFixed(0)
    } req/s from ${CLIENTS} good clients (${stats.requests} answered, ${stats.busy} BUSY)`,
  );
  console.log(
    `  faults injected:  ${stats.disconnects} abrupt disconnects mid-request (${stats.backlogFull} connects refused by a full backlog)`,
  );
  console.log(
    `  inputs tried:     ${stats.fuzzInputs} fuzz inputs (${stats.fuzzProbeFailures} probes unanswered)`,
  );
  console.log(
    `  events:           ${stats.emitted} emitted; ${SUBSCRIBERS} subscribers received+dropped ${subTotals}; stalled ${stalledGot}+${stalledDropped}`,
  );
  console.log(
    `  lost:             ${stats.lost} responses missing, ${stats.mismatched} mismatched, ${eventMismatch} subscribers with events unaccounted for`,
  );
  console.log(
    `  server FDs:       ${fdsBefore} before, ${fdsAfter} after${
      settled ? "" : " (sessions did not settle)"
    }`,
  );
  console.log(
    `  server RSS:       ${mib(rssBefore)} before, ${mib(rssPeak)} peak, ${
      mib(rssAfter)
    } after; alive: ${alive}`,
  );
  if (
    stats.lost > 0 || stats.mismatched > 0 || eventMismatch > 0 || stats.fuzzProbeFailures > 0 ||
    fdsAfter !== fdsBefore || !alive
  ) exitCode = 1;
} finally {
  running = false;
  await child.stop();
}
Deno.exit(exitCode);
