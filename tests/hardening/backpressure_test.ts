/**
 * Backpressure: a subscriber that stops reading gets a bounded server-side queue, exact
 * `dropped` counts (received + Σ dropped.count == emitted, per subscription), every response, and
 * only the events its filters select.
 */

import assert from "node:assert/strict";
import { client, RawConn, SOCKET_TEST, startServer } from "./_fixture.ts";

type Msg = Record<string, unknown>;
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test(
  "backpressure: stalled raw subscriber — exact dropped counts, bounded queue, no lost responses, filters honoured",
  SOCKET_TEST,
  async () => {
    const LIMIT = 100;
    const t = await startServer({ maxQueuedEvents: LIMIT });
    const raw = await RawConn.open(t.address);
    const healthy = await client(t.address);
    try {
      // Two subscriptions on the stalled connection: all ticks, and only k == "a".
      await raw.sendJson({ id: "s1", cmd: "subscribe", args: { events: ["tick"] } });
      const r1 = await raw.readJson();
      await raw.sendJson({ id: "s2", cmd: "subscribe", args: { events: ["tick"], k: "a" } });
      const r2 = await raw.readJson();
      const subAll = (r1.result as { sub: number }).sub;
      const subA = (r2.result as { sub: number }).sub;
      assert.notEqual(subAll, subA);
      const hsub = healthy.subscribe(["tick"]);
      await hsub.ready;
      const session = [...t.server.sessions].find((s) => s.subscriptions === 2)!;
      assert.ok(session);

      // Emit N events in chunks without the raw client reading; send requests meanwhile.
      const N = 20_000;
      let maxQueued = 0;
      let requests = 0;
      for (let i = 1; i <= N; i++) {
        t.server.emit("tick", { n: i, k: i % 2 === 0 ? "a" : "b" });
        if (i % 500 === 0) {
          maxQueued = Math.max(maxQueued, session.channel.eventsQueued);
          await raw.sendJson({ id: `r${requests++}`, cmd: "echo", args: { i } });
          await tick();
        }
      }
      assert.ok(maxQueued <= LIMIT, `queued events stay within the limit (max seen ${maxQueued})`);
      const healthyDone = (async () => {
        let got = 0, dropped = 0;
        for await (const ev of hsub) {
          if (ev.event === "dropped") dropped += (ev as { count: number }).count;
          else got++;
          if (got + dropped >= N) break;
        }
        return { got, dropped };
      })();

      // Now read everything.
      await raw.sendJson({ id: "end", cmd: "echo" });
      const received = new Map<number, number>([[subAll, 0], [subA, 0]]);
      const dropped = new Map<number, number>([[subAll, 0], [subA, 0]]);
      const responses = new Set<string>();
      let wrongFilter = 0;
      const expect = new Map([[subAll, N], [subA, N / 2]]);
      const complete = () =>
        responses.has("end") &&
        [...expect].every(([s, n]) => received.get(s)! + dropped.get(s)! >= n);
      while (!complete()) {
        const m: Msg = await raw.readJson(5000);
        if (m.event === "tick") {
          received.set(m.sub as number, received.get(m.sub as number)! + 1);
          if (m.sub === subA && m.k !== "a") wrongFilter++;
        } else if (m.event === "dropped") {
          assert.equal(m.reason, "backpressure");
          assert.ok(Number.isInteger(m.count) && (m.count as number) > 0);
          dropped.set(m.sub as number, dropped.get(m.sub as number)! + (m.count as number));
        } else {
          assert.equal(m.ok, true, JSON.stringify(m));
          responses.add(m.id as string);
        }
      }
      // Nothing more may follow (an over-count would show here).
      await raw.sendJson({ id: "end2", cmd: "echo" });
      const extra: Msg[] = [];
      await raw.readUntil((m) => m.id === "end2", 5000, extra);
      assert.deepEqual(extra, [], "no events or dropped notices after the totals add up");

      assert.equal(wrongFilter, 0, "filtered subscription only gets k == a");
      for (const [s, n] of expect) {
        assert.equal(
          received.get(s)! + dropped.get(s)!,
          n,
          `sub ${s}: received + dropped == emitted`,
        );
      }
      assert.ok(dropped.get(subAll)! > 0, "the stall really dropped events");
      assert.ok(received.get(subAll)! > 0);
      for (let i = 0; i < requests; i++) {
        assert.ok(
          responses.has(`r${i}`),
          `response r${i} delivered`,
        );
      }
      const h = await healthyDone;
      assert.equal(h.got + h.dropped, N, "healthy subscriber: received + dropped == emitted");
      assert.ok(h.got >= LIMIT, `healthy subscriber keeps receiving (${h.got})`);
    } finally {
      raw.close();
      await healthy.close();
      await t.stop();
    }
  },
);

Deno.test(
  "backpressure: unsubscribe ends events at its response; a disconnect ends subscriptions on the server",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    try {
      await raw.sendJson({ id: 1, cmd: "subscribe", args: { events: ["tick"] } });
      const sub = ((await raw.readJson()).result as { sub: number }).sub;
      t.server.emit("tick", { n: 1 });
      await raw.sendJson({ id: 2, cmd: "unsubscribe", args: { sub } });
      const first = await raw.readJson();
      assert.equal(first.event, "tick");
      assert.equal((await raw.readJson()).id, 2);
      assert.equal(t.server.emit("tick", { n: 2 }), 0);
      assert.equal(t.server.hasSubscribers("tick"), false);
      await raw.sendJson({ id: 3, cmd: "subscribe", args: { events: ["tick", "other"] } });
      await raw.readJson();
      assert.equal(t.server.hasSubscribers("other"), true);
      raw.close();
      const start = Date.now();
      while (t.server.hasSubscribers("other") && Date.now() - start < 2000) {
        await new Promise((
          r,
        ) => setTimeout(r, 10));
      }
      assert.equal(t.server.hasSubscribers("other"), false, "disconnect ended the subscription");
      assert.equal(t.server.hasSubscribers("tick"), false);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);
