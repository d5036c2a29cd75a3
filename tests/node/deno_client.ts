/**
 * A Deno client of the echo service, for the cross-runtime tests: the Node tests serve the echo
 * stub from Node and run `deno run -A tests/node/deno_client.ts SOCKET`. Prints one `ok <check>`
 * line per passed check and `done` at the end; exits 1 with the failure otherwise.
 *
 * @module
 */

import { PortError, RemoteError, TimeoutError } from "../../sdk/ts/mod.ts";
import { createMemfd, fdSize, readFd, writeFd } from "../../sdk/ts/deno/ffi/mod.ts";
import { EchoClient } from "../golden/ts/echo.ts";

const address = Deno.args[0];
if (!address) {
  console.error("usage: deno_client.ts SOCKET");
  Deno.exit(2);
}

function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`check failed: ${what}`);
}
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const ok = (name: string) => console.log(`ok ${name}`);
const fdCount = () => [...Deno.readDirSync("/proc/self/fd")].length;

async function rejects(p: Promise<unknown>, code: string): Promise<PortError> {
  try {
    await p;
  } catch (e) {
    check(e instanceof PortError, `a PortError, got ${e}`);
    check(e.code === code, `code ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`expected ${code}, the call succeeded`);
}

const client = await EchoClient.connect(address);
try {
  const pong = await client.ping();
  check(
    pong.name === "echo" && pong.version === "1.2.0" && pong.protocol === 0,
    `ping ${JSON.stringify(pong)}`,
  );
  ok("ping");

  check(
    same(await client.echo({ text: "from deno", n: 7, color: "blue" }), {
      text: "from deno",
      n: 7,
      color: "blue",
    }),
    "echo",
  );
  const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => client.add({ a: i, b: 1 })));
  check(sums.every((s, i) => s.sum === i + 1), "200 pipelined adds");
  ok("typed calls");

  const teapot = await rejects(client.fail({ code: "TEAPOT" }), "TEAPOT");
  check(
    teapot instanceof RemoteError && teapot.cmd === "fail" && teapot.message === "I am a teapot",
    "TEAPOT details",
  );
  await rejects(client.fail({ code: "NOT_FOUND" }), "NOT_FOUND");
  const internal = await rejects(client.fail({ code: "INTERNAL" }), "INTERNAL");
  check(internal.message.includes("deliberate failure"), "INTERNAL message");
  const badArg = await rejects(client.echo({ text: 5 as unknown as string }), "BAD_ARG");
  check(same(badArg.data, { path: "/text" }), "BAD_ARG data.path");
  await rejects(client.port.request("ecko"), "BAD_CMD");
  ok("errors");

  const timedOut = await rejects(client.slow({ ms: 5000 }, { timeout: 100 }), "TIMEOUT");
  check(timedOut instanceof TimeoutError, "TimeoutError");
  ok("deadline");

  const sub = client.subscribe(["tick"], { tag: "d" });
  const subId = await sub.ready;
  check(same(await client.emit({ count: 3, tag: "d" }), { emitted: 3 }), "emit 3");
  const seen: number[] = [];
  for await (const ev of sub) {
    check(ev.event === "tick" && ev.sub === subId, `event ${JSON.stringify(ev)}`);
    seen.push((ev as { n: number }).n);
    if (seen.length === 3) break;
  }
  check(same(seen, [1, 2, 3]), `events ${seen}`);
  check(
    same(await client.emit({ count: 1, tag: "d" }), { emitted: 0 }),
    "unsubscribed after break",
  );
  ok("subscription");

  const base = fdCount();
  for (let i = 0; i < 20; i++) {
    const bytes = new Uint8Array(500 + i).map((_, j) => (j * 3 + i) & 0xff);
    const memfd = createMemfd(`deno-${i}`, 0);
    writeFd(memfd, bytes, 0);
    const expected = bytes.reduce((a, b) => a + b, 0);
    check(
      same(await client.fdsum({ fd: memfd }), { sum: expected, size: bytes.length }),
      `fdsum ${i}`,
    );
    memfd.close();
    const text = `node made this for deno #${i}`;
    const { fd } = await client.fdmake({ text });
    check(new TextDecoder().decode(readFd(fd, fdSize(fd), 0)) === text, `fdmake ${i}`);
    fd.close();
  }
  check(fdCount() === base, `descriptors leaked in the Deno client: ${base} → ${fdCount()}`);
  ok("descriptors");

  check(
    same(await client.echo({ text: "still fine" }), { text: "still fine" }),
    "usable at the end",
  );
  await client.close();
  console.log("done");
} catch (e) {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  Deno.exit(1);
}
