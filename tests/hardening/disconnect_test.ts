/**
 * Abrupt disconnects: 2,000 clients vanish mid-request (handler running, response being written,
 * half a line sent, subscribed) while a healthy client keeps getting every answer; afterwards the
 * server holds no session or descriptor of theirs.
 */

import assert from "node:assert/strict";
import { client, fdCount, RawConn, SOCKET_TEST, startChildServer, waitFor } from "./_fixture.ts";

const TOTAL = 2000;
const PARALLEL = 25;

Deno.test(
  "disconnect: 2,000 abrupt disconnects mid-request, the service keeps serving",
  SOCKET_TEST,
  async () => {
    const child = await startChildServer();
    const healthy = await client(child.address, { timeout: 10_000 });
    try {
      await healthy.ping();
      const baseline = fdCount(child.pid);
      let stop = false;
      let answered = 0, wrong = 0, failed = 0, maxLatency = 0;
      const healthyLoop = (async () => {
        let i = 0;
        while (!stop) {
          const n = i++;
          try {
            const t0 = performance.now();
            const r = await healthy.request<{ n: number }>("echo", { n });
            maxLatency = Math.max(maxLatency, performance.now() - t0);
            if (r.n === n) answered++;
            else wrong++;
          } catch {
            failed++;
          }
        }
      })();
      let done = 0, backlogFull = 0;
      const big = "b".repeat(30_000);
      const one = async (k: number) => {
        let raw: RawConn;
        for (;;) {
          try {
            raw = await RawConn.open(child.address);
            break;
          } catch (e) {
            // The listen backlog is full while the server catches up: wait and retry.
            if (!(e instanceof Deno.errors.WouldBlock)) throw e;
            backlogFull++;
            await new Promise((r) => setTimeout(r, 2));
          }
        }
        switch (k % 5) {
          case 0: // handler running
            await raw.sendJson({ id: 1, cmd: "slow", args: { ms: 50 } });
            break;
          case 1: // large responses being written, never read
            await raw.send(
              Array.from(
                { length: 4 },
                (_, i) => JSON.stringify({ id: i, cmd: "echo", args: { big } }),
              ).join("\n") + "\n",
            );
            break;
          case 2: // half a line
            await raw.send('{"id":1,"cmd":"echo","args":{"x":"');
            break;
          case 3: // subscribed, events flowing
            await raw.send(
              JSON.stringify({ id: 1, cmd: "subscribe", args: { events: ["tick"] } }) + "\n" +
                JSON.stringify({ id: 2, cmd: "emit", args: { count: 20 } }) + "\n",
            );
            break;
          case 4: // many requests pipelined, including a slow one without deadline
            await raw.send(
              Array.from(
                { length: 20 },
                (_, i) => JSON.stringify({ id: i, cmd: i === 0 ? "slow" : "echo", args: { i } }),
              ).join("\n") +
                "\n",
            );
            break;
        }
        if (k % 3 === 0) await new Promise((r) => setTimeout(r, 1));
        raw.close();
        done++;
      };
      let next = 0;
      await Promise.all(Array.from({ length: PARALLEL }, async () => {
        while (next < TOTAL) await one(next++);
      }));
      // The churn saturates the server (it arrives faster than one event loop serves it); give the
      // healthy client a moment after it, then stop.
      const churnAnswered = answered;
      const tChurn = performance.now();
      await waitFor(() => answered >= churnAnswered + 20, 10_000, 5);
      const recoveryMs = performance.now() - tChurn;
      stop = true;
      await healthyLoop;
      assert.equal(done, TOTAL);
      assert.equal(failed, 0, "healthy client never failed");
      assert.equal(wrong, 0, "healthy client never got a wrong answer");
      assert.ok(
        answered >= churnAnswered + 20,
        `healthy client answered after the churn (${answered - churnAnswered})`,
      );
      assert.ok(
        await waitFor(
          async () => (await healthy.request<{ sessions: number }>("stats")).sessions === 1,
          5000,
          50,
        ),
        "every aborted session is gone",
      );
      assert.ok(
        await waitFor(() => fdCount(child.pid) === baseline, 5000, 50),
        `server FDs ${fdCount(child.pid)} vs ${baseline}`,
      );
      const fresh = await client(child.address);
      assert.equal((await fresh.ping()).name, "hardtest");
      await fresh.close();
      if (Deno.env.get("DISCONNECT_VERBOSE")) {
        console.log(
          `disconnect: ${TOTAL} aborted, healthy answered ${churnAnswered} during + ${
            answered - churnAnswered
          } after, max latency ${
            maxLatency.toFixed(0)
          } ms, backlog-full retries ${backlogFull}, 20 answers after churn within ${
            recoveryMs.toFixed(0)
          } ms`,
        );
      }
    } finally {
      await healthy.close();
      await child.stop();
    }
  },
);
