/**
 * Server memory benchmark (not part of the tests):
 *
 *   deno run -A bench/memory.ts [--clients 1000] [--events 100000]
 *
 * Starts the hardening test service (tests/hardening/_server_main.ts) in a child process, reads
 * its VmRSS from /proc/<pid>/status idle, with N idle clients connected, and while one subscriber
 * never reads as E events are emitted; checks that the stalled subscriber's events add up exactly
 * (received + Σ dropped == emitted) and prints whether each RSS figure is under 64 MiB.
 *
 * @module
 */

import { client, RawConn, rssOf, startChildServer, waitFor } from "../tests/hardening/_fixture.ts";
import type { PortClient } from "../sdk/ts/mod.ts";

function flag(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const CLIENTS = flag("clients", 1000);
const EVENTS = flag("events", 100_000);
const TARGET = 64 * 1024 * 1024;
const mib = (b: number) => (b / 1024 / 1024).toFixed(1) + " MiB";
const hwm = (pid: number) =>
  Number(/VmHWM:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const child = await startChildServer({ maxConnections: CLIENTS + 16 });
const rows: [string, number, boolean][] = [];
let child2: Awaited<ReturnType<typeof startChildServer>> | undefined;
try {
  const control = await client(child.address, { timeout: 60_000 });
  await control.ping();
  await sleep(500);
  const idle = rssOf(child.pid);
  rows.push(["server idle (1 client)", idle, idle < TARGET]);

  // 1,000 idle clients.
  const clients: PortClient[] = [];
  for (let i = 0; i < CLIENTS; i += 100) {
    clients.push(
      ...await Promise.all(
        Array.from({ length: Math.min(100, CLIENTS - i) }, () => client(child.address)),
      ),
    );
  }
  await Promise.all(clients.map((c) => c.ping()));
  const sessions = (await control.request<{ sessions: number }>("stats")).sessions;
  await sleep(1000);
  const withClients = rssOf(child.pid);
  rows.push([
    `server with ${CLIENTS} idle clients (${sessions} sessions)`,
    withClients,
    withClients < TARGET,
  ]);
  rows.push(["  per idle client", (withClients - idle) / CLIENTS, true]);
  await Promise.all(clients.map((c) => c.close()));
  await waitFor(
    async () => (await control.request<{ sessions: number }>("stats")).sessions === 1,
    5000,
    50,
  );
  await sleep(500);
  rows.push(["server after they left", rssOf(child.pid), rssOf(child.pid) < TARGET]);

  rows.push([
    "server high-water mark (VmHWM), idle-clients phase",
    hwm(child.pid),
    hwm(child.pid) < TARGET,
  ]);
  await control.close();

  // One stalled subscriber, on a fresh server process (so the idle-clients phase does not count).
  child2 = await startChildServer();
  const control2 = await client(child2.address, { timeout: 60_000 });
  await control2.ping();
  await sleep(500);
  const idle2 = rssOf(child2.pid);
  rows.push(["fresh server idle (1 client)", idle2, idle2 < TARGET]);
  const stalled = await RawConn.open(child2.address);
  await stalled.sendJson({ id: 1, cmd: "subscribe", args: { events: ["tick"] } });
  const sub = ((await stalled.readJson()).result as { sub: number }).sub;
  let peak = 0;
  const BATCH = 1000;
  const t0 = performance.now();
  for (let sent = 0; sent < EVENTS; sent += BATCH) {
    await control2.request("emit", { count: Math.min(BATCH, EVENTS - sent) });
    if ((sent / BATCH) % 10 === 0) peak = Math.max(peak, rssOf(child2.pid));
  }
  const emitMs = performance.now() - t0;
  await sleep(300);
  const stalledRss = rssOf(child2.pid);
  peak = Math.max(peak, stalledRss);
  rows.push([
    `server with a stalled subscriber, ${EVENTS} events emitted`,
    stalledRss,
    stalledRss < TARGET,
  ]);
  rows.push(["  peak during emission", peak, peak < TARGET]);

  // Drain the stalled subscriber and check the books.
  await stalled.sendJson({ id: "end", cmd: "ping" });
  let received = 0, dropped = 0, sawEnd = false;
  while (!sawEnd || received + dropped < EVENTS) {
    const m = await stalled.readJson(10_000);
    if (m.event === "tick" && m.sub === sub) received++;
    else if (m.event === "dropped" && m.sub === sub) dropped += m.count as number;
    else if (m.id === "end") sawEnd = true;
  }
  stalled.close();
  rows.push([
    "server high-water mark (VmHWM), stalled phase",
    hwm(child2.pid),
    hwm(child2.pid) < TARGET,
  ]);
  await control2.close();

  console.log(
    `copperline-ports server memory (server in child processes, Deno ${Deno.version.deno}, target < 64 MiB)`,
  );
  for (const [what, bytes, ok] of rows) {
    console.log(
      `  ${what.padEnd(58)} ${mib(bytes).padStart(10)}  ${
        what.startsWith("  per")
          ? (bytes / 1024).toFixed(1) + " KiB"
          : ok
          ? "< 64 MiB: yes"
          : "< 64 MiB: NO"
      }`,
    );
  }
  const exact = received + dropped === EVENTS;
  console.log(
    `  stalled subscriber: ${received} received + ${dropped} dropped = ${
      received + dropped
    } of ${EVENTS} emitted (${exact ? "exact" : "MISMATCH"}); emission took ${
      emitMs.toFixed(0)
    } ms`,
  );
  if (!exact) Deno.exitCode = 1;
} finally {
  await child.stop();
  await child2?.stop();
}
