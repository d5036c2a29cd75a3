// The generated Deno client against the generated server stub over real Unix sockets: typed calls,
// every error code the runtime produces, pipelining, deadlines, aborts, subscriptions, descriptors,
// and bad input that must not disturb other clients.
import assert from "node:assert/strict";
import { ClosedError, connect, PortError, RemoteError, TimeoutError } from "../sdk/ts/mod.ts";
import { createMemfd, readFd, writeFd } from "../sdk/ts/deno/ffi/mod.ts";
import { EchoClient } from "./golden/ts/echo.ts";
import { startEcho } from "./echo_impl.ts";
import type { EchoServer } from "./golden/ts/echo_server.ts";

async function withEcho(
  fn: (address: string, server: EchoServer) => Promise<void>,
  options: Parameters<typeof startEcho>[1] = {},
): Promise<void> {
  const dir = await Deno.makeTempDir();
  const address = `${dir}/echo.sock`;
  const server = await startEcho(address, { onError: () => {}, ...options });
  try {
    await fn(address, server);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function openFds(): number {
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

Deno.test("typed calls, ping, describe", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    assert.deepEqual(await echo.echo({ text: "hi", n: 2, color: "green" }), { text: "hi", n: 2, color: "green" });
    assert.deepEqual(await echo.add({ a: 2, b: 40 }), { sum: 42 });
    assert.deepEqual(await echo.ping(), { name: "echo", version: "1.2.0", protocol: 0 });
    const schema = await echo.describe();
    assert.equal(schema.service, "echo");
    assert.equal((schema.limits as Record<string, number>).maxMessage, 65536);
    assert.deepEqual(await echo.legacy(), {});
  });
});

Deno.test("the connect address falls back to <SERVICE>_SOCKET", async () => {
  await withEcho(async (address) => {
    Deno.env.set("ECHO_SOCKET", address);
    try {
      await using echo = await EchoClient.connect();
      assert.deepEqual(await echo.add({ a: 1, b: 1 }), { sum: 2 });
    } finally {
      Deno.env.delete("ECHO_SOCKET");
    }
  });
});

Deno.test("error responses become RemoteError with the protocol code", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    const cases: [() => Promise<unknown>, string, RegExp][] = [
      [() => echo.fail({ code: "TEAPOT" }), "TEAPOT", /teapot/],
      [() => echo.fail({ code: "NOT_FOUND" }), "NOT_FOUND", /Nothing/],
      [() => echo.fail({ code: "INTERNAL" }), "INTERNAL", /deliberate failure/],
      // deno-lint-ignore no-explicit-any
      [() => echo.echo({ text: 5 as any }), "BAD_ARG", /args\/text: must be string/],
      [() => echo.port.request("nope"), "BAD_CMD", /Unknown command "nope"/],
      [() => echo.port.request("unsubscribe", { sub: 99 }), "NOT_FOUND", /No subscription 99/],
    ];
    for (const [call, code, message] of cases) {
      const err = await call().then(() => undefined, (e) => e);
      assert.ok(err instanceof RemoteError, `${code}: ${err}`);
      assert.equal(err.code, code);
      assert.match(err.message, message);
    }
    // The client is still usable after every error.
    assert.deepEqual(await echo.add({ a: 1, b: 2 }), { sum: 3 });
  });
});

Deno.test("pipelined requests complete out of order and are matched by id", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    const order: number[] = [];
    const calls = [60, 1, 30, 0].map((ms, i) => echo.slow({ ms }).then((r) => (order.push(i), r)));
    const many = Array.from({ length: 500 }, (_, i) => echo.echo({ text: `t${i}`, n: i }));
    const results = await Promise.all(many);
    results.forEach((r, i) => assert.deepEqual(r, { text: `t${i}`, n: i }));
    assert.deepEqual((await Promise.all(calls)).map((r) => r.waited), [60, 1, 30, 0]);
    assert.equal(order[order.length - 1], 0, "the 60 ms call finishes last");
    assert.equal(echo.port.inFlight, 0);
  });
});

Deno.test("a deadline rejects with TimeoutError and cancels on the server", async () => {
  await withEcho(async (address, server) => {
    await using echo = await EchoClient.connect(address, { timeout: 100 });
    const t0 = performance.now();
    const err = await echo.slow({ ms: 5000 }).then(() => undefined, (e) => e);
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.code, "TIMEOUT");
    assert.ok(performance.now() - t0 < 1000);
    // The server saw the cancel: nothing stays in flight.
    for (let i = 0; i < 50 && [...server.port.sessions].some((s) => s.inFlight > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal([...server.port.sessions].reduce((n, s) => n + s.inFlight, 0), 0);
    // Per-call override.
    assert.deepEqual(await echo.slow({ ms: 150 }, { timeout: 2000 }), { waited: 150 });
  });
});

Deno.test("an AbortSignal rejects with its reason and cancels on the server", async () => {
  await withEcho(async (address, server) => {
    await using echo = await EchoClient.connect(address);
    const ac = new AbortController();
    const p = echo.slow({ ms: 5000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error("user gave up")), 30);
    await assert.rejects(p, /user gave up/);
    for (let i = 0; i < 50 && [...server.port.sessions].some((s) => s.inFlight > 0); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal([...server.port.sessions].reduce((n, s) => n + s.inFlight, 0), 0);
    // An already-aborted signal never sends.
    await assert.rejects(echo.echo({ text: "x" }, { signal: AbortSignal.abort(new Error("early")) }), /early/);
  });
});

Deno.test("subscriptions: typed events, filters, break unsubscribes", async () => {
  await withEcho(async (address, server) => {
    await using echo = await EchoClient.connect(address);
    const sub = echo.subscribe(["tick"], { tag: "x" });
    await sub.ready;
    assert.ok(sub.sub > 0);
    await echo.emit({ count: 3, tag: "y" }); // filtered out
    await echo.emit({ count: 5, tag: "x" });
    const seen: number[] = [];
    for await (const ev of sub) {
      if (ev.event === "tick") seen.push(ev.n);
      if (seen.length === 3) break;
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.ok(sub.ended);
    // break sent unsubscribe: the server has no subscriber left.
    assert.equal(server.hasSubscribers("tick"), false);
    assert.deepEqual(await echo.emit({ count: 1, tag: "x" }), { emitted: 0 });
  });
});

Deno.test("a subscription to an unknown event rejects on first next()", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    // deno-lint-ignore no-explicit-any
    const sub = echo.subscribe(["tock" as any]);
    await assert.rejects(sub.next(), (e: PortError) => e.code === "BAD_ARG" && /did you mean "tick"/.test(e.message));
  });
});

Deno.test("closing the client ends subscriptions and rejects calls in flight", async () => {
  await withEcho(async (address) => {
    const echo = await EchoClient.connect(address);
    const sub = echo.subscribe(["tick"]);
    await sub.ready;
    const pending = echo.slow({ ms: 5000 });
    const closing = echo.close();
    await assert.rejects(pending, ClosedError);
    await closing;
    assert.deepEqual(await sub.next(), { value: undefined, done: true });
    await assert.rejects(echo.echo({ text: "late" }), ClosedError);
  });
});

Deno.test("a server that goes away rejects calls with ClosedError", async () => {
  const dir = await Deno.makeTempDir();
  const address = `${dir}/echo.sock`;
  const server = await startEcho(address);
  const echo = await EchoClient.connect(address);
  const pending = echo.slow({ ms: 10_000 });
  await server.close();
  await assert.rejects(pending, (e: PortError) => e.code === "CLOSED" || e.code === "CANCELLED");
  await echo.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("connecting to a missing socket fails with a clear error", async () => {
  const err = await EchoClient.connect("/tmp/copperline-nope/none.sock").then(() => undefined, (e) => e);
  assert.ok(err instanceof Error);
  assert.match(err.message, /Cannot connect to "\/tmp\/copperline-nope\/none\.sock"/);
  assert.equal((err as { code?: string }).code, "ENOENT");
});

Deno.test("capabilities: DENIED without a token, allowed with one", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    await assert.rejects(echo.add({ a: 1, b: 1 }), (e: PortError) => e.code === "DENIED" && /"math"/.test(e.message));
    assert.deepEqual(await echo.add({ a: 1, b: 1 }, { caps: "tok-math" }), { sum: 2 });
    await assert.rejects(echo.fail({ code: "TEAPOT" }, { caps: "tok-math" }), (e: PortError) => e.code === "DENIED");
    await assert.rejects(echo.fail({ code: "TEAPOT" }, { caps: ["tok-math", "tok-all"] }), (e: PortError) => e.code === "TEAPOT");
    // Commands without caps need none.
    assert.deepEqual(await echo.echo({ text: "free" }), { text: "free" });
  }, { capabilities: { "tok-math": ["math"], "tok-all": ["*"] } });
});

Deno.test("descriptors: a memfd client→server and server→client, no leaks over 2,000 calls", async () => {
  await withEcho(async (address) => {
    await using echo = await EchoClient.connect(address);
    const payload = new TextEncoder().encode("copperline");
    let expected = 0;
    for (const b of payload) expected += b;
    {
      using fd = createMemfd("t", payload.length);
      writeFd(fd, payload, 0);
      assert.deepEqual(await echo.fdsum({ fd }), { sum: expected, size: payload.length });
    }
    {
      const { fd } = await echo.fdmake({ text: "from the server" });
      assert.equal(new TextDecoder().decode(readFd(fd, 15, 0)), "from the server");
      fd.close();
    }
    const before = openFds();
    for (let i = 0; i < 1000; i++) {
      using fd = createMemfd("t", 4);
      writeFd(fd, new Uint8Array([1, 2, 3, i & 0xff]), 0);
      const r = await echo.fdsum({ fd });
      assert.equal(r.sum, 6 + (i & 0xff));
      const back = await echo.fdmake({ text: `n${i}` });
      back.fd.close();
    }
    assert.equal(openFds(), before, "no descriptor leaked on either side");
  });
});

Deno.test("bad input on one connection does not disturb another", async () => {
  await withEcho(async (address) => {
    await using good = await EchoClient.connect(address);
    const raw = await Deno.connect({ transport: "unix", path: address });
    const enc = new TextEncoder();
    const bad = [
      "{not json}\n",
      "[]\n",
      "\"str\"\n",
      '{"id":{},"cmd":"ping"}\n',
      '{"id":1}\n',
      "x".repeat(100_000) + "\n",
    ];
    for (const line of bad) {
      await raw.write(enc.encode(line));
      assert.deepEqual(await good.add({ a: 1, b: 2 }, { caps: [] }).catch((e) => e.code), { sum: 3 });
    }
    await raw.write(new Uint8Array([0xff, 0xfe, 10]));
    // A client that disconnects mid-request (the slow handler is aborted, nobody is answered).
    await raw.write(enc.encode('{"id":5,"cmd":"slow","args":{"ms":200}}\n{"id":6,"cmd":"ec'));
    raw.close();
    assert.deepEqual(await good.echo({ text: "still here" }), { text: "still here" });
  });
});

Deno.test("an untyped client from connect() works against the same server", async () => {
  await withEcho(async (address) => {
    const c = await connect(address);
    assert.deepEqual(await c.request("echo", { text: "raw" }), { text: "raw" });
    await c.close();
  });
});
