/**
 * Load: 1,000 concurrent clients × 20 pipelined requests each against a server in a child process;
 * every response is matched to its request by content (no lost or misrouted response).
 */

import assert from "node:assert/strict";
import type { PortClient } from "../../sdk/ts/mod.ts";
import { client, SOCKET_TEST, startChildServer } from "./_fixture.ts";

const CLIENTS = 1000;
const REQUESTS = 20;

Deno.test(
  "load: 1,000 concurrent clients × 20 requests, every response matches its request",
  SOCKET_TEST,
  async () => {
    const child = await startChildServer();
    const clients: PortClient[] = [];
    try {
      // Connect in waves (the listen backlog is finite), keep all open at once.
      for (let i = 0; i < CLIENTS; i += 100) {
        clients.push(
          ...await Promise.all(
            Array.from(
              { length: Math.min(100, CLIENTS - i) },
              () => client(child.address, { timeout: 30_000 }),
            ),
          ),
        );
      }
      const stats = await clients[0].request<{ sessions: number }>("stats");
      assert.equal(stats.sessions, CLIENTS, "all clients connected at once");
      const t0 = performance.now();
      let matched = 0, lost = 0, mismatched = 0;
      await Promise.all(clients.map(async (c, ci) => {
        const calls = Array.from({ length: REQUESTS }, (_, r) => {
          const args = { c: ci, r, nonce: `${ci}:${r}:${Math.random().toString(36).slice(2)}` };
          return c.request<typeof args>("echo", args).then(
            (
              res,
            ) => (res.c === args.c && res.r === args.r && res.nonce === args.nonce
              ? matched++
              : mismatched++),
            () => lost++,
          );
        });
        await Promise.all(calls);
      }));
      const ms = performance.now() - t0;
      assert.equal(lost, 0, "no lost responses");
      assert.equal(mismatched, 0, "no misrouted responses");
      assert.equal(matched, CLIENTS * REQUESTS);
      if (Deno.env.get("LOAD_VERBOSE")) {
        console.log(
          `load: ${matched} requests in ${ms.toFixed(0)} ms (${
            (matched / ms * 1000).toFixed(0)
          } req/s)`,
        );
      }
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await child.stop();
    }
  },
);

// GAP (ignored until fixed): every accepted connection allocates a 256 KiB read buffer
// (READ_SIZE in sdk/ts/deno/net_platform.ts, DenoConnection.#readLoop), ~150 KiB of RSS per idle
// client: bench/memory.ts measures ~190 MiB with 1,000 idle clients (target < 64 MiB). With a 2 KiB
// buffer it measures ~60 MiB. Fix: start each connection's buffer small (e.g. 4 KiB) and double it
// (up to 256 KiB) only when a read fills it completely, shrinking back after a short read.
Deno.test({
  name: "memory: 1,000 idle clients keep the server under 64 MiB RSS",
  ...SOCKET_TEST,
  async fn() {
    const { rssOf } = await import("./_fixture.ts");
    const child = await startChildServer();
    const clients: PortClient[] = [];
    try {
      for (let i = 0; i < CLIENTS; i += 100) {
        clients.push(
          ...await Promise.all(Array.from({ length: 100 }, () => client(child.address))),
        );
      }
      await Promise.all(clients.map((c) => c.ping()));
      await new Promise((r) => setTimeout(r, 500));
      const rss = rssOf(child.pid);
      assert.ok(rss < 64 * 1024 * 1024, `server RSS ${(rss / 1048576).toFixed(1)} MiB`);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await child.stop();
    }
  },
});
