import assert from "node:assert/strict";
import { backoffDelay, ReconnectingClient } from "./reconnect.ts";
import { PortClient } from "./client.ts";
import { ClosedError } from "./errors.ts";
import { PortServer } from "./server.ts";
import type { ServerDescriptor } from "./descriptor.ts";
import type { Listener } from "./transport.ts";
import { denoPlatform } from "../deno/net_platform.ts";

const descriptor: ServerDescriptor = {
  name: "rc",
  version: "1.0.0",
  protocol: 0,
  commands: { echo: {}, hang: {} },
  events: { tick: { filters: ["k"] } },
  schema: {},
  validateArgs: {},
};

const T = { sanitizeOps: false, sanitizeResources: false } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server on a fixed path that can be stopped and started again. */
class Restartable {
  server: PortServer | undefined;
  listener: Listener | undefined;
  starts = 0;
  constructor(readonly path: string) {}
  async start(): Promise<void> {
    const server = new PortServer(descriptor, {
      echo: (a: unknown) => a,
      hang: (_a: unknown, ctx: { signal: AbortSignal }) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        ),
    }, { onError: () => {} });
    this.listener = await denoPlatform.listen(this.path, (c) => server.accept(c));
    this.server = server;
    this.starts++;
  }
  async stop(): Promise<void> {
    await this.listener?.close();
    await this.server?.close(50);
    this.listener = this.server = undefined;
  }
  emit(n: number): number {
    return this.server!.emit("tick", { n, k: "a" });
  }
}

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "clp-rc-" });
  const srv = new Restartable(`${dir}/rc.sock`);
  await srv.start();
  let attempts = 0;
  const connect = async () => {
    attempts++;
    return new PortClient(await denoPlatform.connect(srv.path), { timeout: 5000 });
  };
  return {
    srv,
    connect,
    attempts: () => attempts,
    async cleanup() {
      await srv.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

Deno.test("backoffDelay: doubles from 50 ms, caps at 5 s, jitter within ±20%", () => {
  const mid = { random: () => 0.5 };
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => backoffDelay(a, mid)), [50, 100, 200, 400, 800]);
  assert.equal(backoffDelay(20, mid), 5000);
  assert.equal(backoffDelay(1, { random: () => 0 }), 40);
  assert.ok(Math.abs(backoffDelay(1, { random: () => 0.999999 }) - 60) < 0.01);
  assert.equal(backoffDelay(30, { random: () => 0.999999 }), 5000, "jitter never exceeds maxDelay");
  assert.equal(backoffDelay(3, { initialDelay: 10, factor: 3, jitter: 0 }), 90);
});

Deno.test(
  "reconnect: requests issued while the server is down wait and succeed after it restarts",
  T,
  async () => {
    const s = await setup();
    const connects: number[] = [];
    const rc = await ReconnectingClient.connect(s.connect, {
      onConnect: (_c, n) => connects.push(n),
    });
    try {
      assert.deepEqual(await rc.request("echo", { a: 1 }), { a: 1 });
      await s.srv.stop();
      await rc.client?.closed;
      assert.equal(rc.connected, false);
      const waiting = rc.request("echo", { b: 2 });
      await sleep(250);
      await s.srv.start();
      assert.deepEqual(await waiting, { b: 2 });
      assert.equal(rc.connected, true);
      assert.equal(rc.connections, 2);
      assert.deepEqual(connects, [0, 1]);
    } finally {
      await rc.close();
      await s.cleanup();
    }
  },
);

Deno.test("reconnect: backoff spaces the attempts while the server is down", T, async () => {
  const s = await setup();
  const rc = await ReconnectingClient.connect(s.connect, { jitter: 0 });
  try {
    await s.srv.stop();
    await rc.client?.closed;
    const before = s.attempts();
    await sleep(800);
    // 50 + 100 + 200 + 400 ms: about 4 attempts in 800 ms (a hot loop would make hundreds).
    const made = s.attempts() - before;
    assert.ok(made >= 3 && made <= 6, `made ${made} attempts`);
    await s.srv.start();
    assert.deepEqual(await rc.request("echo", { up: true }), { up: true });
  } finally {
    await rc.close();
    await s.cleanup();
  }
});

Deno.test(
  "reconnect: whileDisconnected 'fail' rejects at once; maxWait bounds the wait",
  T,
  async () => {
    const s = await setup();
    const failFast = await ReconnectingClient.connect(s.connect, { whileDisconnected: "fail" });
    const bounded = await ReconnectingClient.connect(s.connect, { maxWait: 100 });
    try {
      await s.srv.stop();
      await failFast.client?.closed;
      await bounded.client?.closed;
      const t0 = performance.now();
      await assert.rejects(failFast.request("echo"), ClosedError);
      assert.ok(performance.now() - t0 < 50);
      await assert.rejects(
        bounded.request("echo"),
        (e: unknown) => e instanceof ClosedError && /100 ms/.test(e.message),
      );
      assert.ok(performance.now() - t0 >= 95);
    } finally {
      await failFast.close();
      await bounded.close();
      await s.cleanup();
    }
  },
);

Deno.test(
  "reconnect: a request in flight when the connection drops rejects with ClosedError (not retried)",
  T,
  async () => {
    const s = await setup();
    const rc = await ReconnectingClient.connect(s.connect);
    try {
      const p = rc.request("hang");
      await sleep(30);
      await s.srv.stop();
      await assert.rejects(p, ClosedError);
      await s.srv.start();
      assert.deepEqual(await rc.request("echo", { again: 1 }), { again: 1 });
    } finally {
      await rc.close();
      await s.cleanup();
    }
  },
);

Deno.test(
  "reconnect: subscriptions are re-established and the iterator keeps yielding",
  T,
  async () => {
    const s = await setup();
    const rc = await ReconnectingClient.connect(s.connect);
    try {
      const sub = rc.subscribe<{ n: number }>(["tick"], { k: "a" });
      await sub.ready();
      const got: number[] = [];
      const reader = (async () => {
        for await (const ev of sub) {
          if ((ev as { event: string }).event === "tick") got.push((ev as { n: number }).n);
          if (got.length === 6) break;
        }
      })();
      for (let n = 1; n <= 3; n++) assert.equal(s.srv.emit(n), 1);
      while (got.length < 3) await sleep(5);
      await s.srv.stop();
      await sleep(100);
      await s.srv.start();
      // Wait until the subscription is back on the new server, then emit more.
      const deadline = Date.now() + 3000;
      while (!s.srv.server!.hasSubscribers("tick") && Date.now() < deadline) await sleep(10);
      assert.ok(s.srv.server!.hasSubscribers("tick"), "resubscribed on the new server");
      for (let n = 4; n <= 6; n++) assert.equal(s.srv.emit(n), 1);
      await reader;
      assert.deepEqual(got, [1, 2, 3, 4, 5, 6]);
      assert.equal(sub.subscriptions, 2);
      // Leaving the loop unsubscribed on the server.
      const until = Date.now() + 2000;
      while (s.srv.server!.hasSubscribers("tick") && Date.now() < until) await sleep(10);
      assert.equal(s.srv.server!.hasSubscribers("tick"), false);
    } finally {
      await rc.close();
      await s.cleanup();
    }
  },
);

Deno.test(
  "reconnect: maxAttempts gives up; requests and subscriptions then fail with ClosedError",
  T,
  async () => {
    const s = await setup();
    const rc = await ReconnectingClient.connect(s.connect, { maxAttempts: 3, initialDelay: 10 });
    try {
      const sub = rc.subscribe(["tick"]);
      await sub.ready();
      const next = sub.next();
      await s.srv.stop();
      await rc.closed;
      assert.equal(rc.isClosed, true);
      await assert.rejects(
        rc.request("echo"),
        (e: unknown) => e instanceof ClosedError && /Gave up/.test(e.message),
      );
      await assert.rejects(next, ClosedError);
    } finally {
      await rc.close();
      await s.cleanup();
    }
  },
);

Deno.test(
  "reconnect: an AbortSignal stops reconnecting; close() ends iterators cleanly",
  T,
  async () => {
    const s = await setup();
    const ac = new AbortController();
    let rcAttempts = 0;
    const rc = await ReconnectingClient.connect(() => (rcAttempts++, s.connect()), {
      signal: ac.signal,
    });
    const rc2 = await ReconnectingClient.connect(s.connect);
    try {
      await s.srv.stop();
      await rc.client?.closed;
      const waiting = rc.request("echo");
      ac.abort(new Error("shutting down"));
      await assert.rejects(waiting, ClosedError);
      await rc.closed;
      const attempts = rcAttempts;
      await sleep(200);
      assert.equal(rcAttempts, attempts, "no attempts after abort");
      // close() while iterating ends the loop without an error.
      await s.srv.start();
      const sub = rc2.subscribe(["tick"]);
      const loop = (async () => {
        let n = 0;
        for await (const _ of sub) n++;
        return n;
      })();
      await sleep(100);
      await rc2.close();
      assert.equal(await loop, 0);
    } finally {
      await rc.close();
      await rc2.close();
      await s.cleanup();
    }
  },
);

Deno.test("reconnect: the first connect retries until the server appears", T, async () => {
  const s = await setup();
  await s.srv.stop();
  try {
    const pending = ReconnectingClient.connect(s.connect, { initialDelay: 20 });
    await sleep(150);
    await s.srv.start();
    const rc = await pending;
    assert.deepEqual(await rc.request("echo", { late: 1 }), { late: 1 });
    await rc.close();
    // With maxAttempts and no server, connect() rejects.
    await s.srv.stop();
    await assert.rejects(
      ReconnectingClient.connect(s.connect, { maxAttempts: 2, initialDelay: 5 }),
      ClosedError,
    );
  } finally {
    await s.cleanup();
  }
});
