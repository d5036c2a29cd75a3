/**
 * Fuzzing (fast-check): random bytes, random lines and mutated valid requests sent to a server in
 * a child process. After each run: the server is alive, answers a fresh client and a pre-existing
 * client, every fuzz connection is gone and its descriptor count is back where it started.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  client,
  fdCount,
  RawConn,
  SOCKET_TEST,
  startChildServer,
  startServer,
  waitFor,
} from "./_fixture.ts";

const enc = new TextEncoder();
const COMMANDS = [
  "echo",
  "secret",
  "admin",
  "ping",
  "describe",
  "subscribe",
  "unsubscribe",
  "cancel",
  "stats",
  "nope",
];

/** A valid-looking request. */
const request = fc.record({
  id: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.string({ maxLength: 8 })),
  cmd: fc.constantFrom(...COMMANDS),
  args: fc.oneof(
    fc.constant({}),
    fc.record({
      events: fc.constantFrom(["tick"], ["other", "tick"], ["bogus"]),
      k: fc.constantFrom("a", 1, ["a", "b"]),
    }, { requiredKeys: ["events"] }),
    fc.record({ sub: fc.integer({ min: 0, max: 5 }) }),
    fc.record({ id: fc.oneof(fc.integer(), fc.string()) }),
    fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
  ),
  caps: fc.option(
    fc.oneof(
      fc.constant("tok"),
      fc.array(fc.string({ maxLength: 4 }), { maxLength: 2 }),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    { nil: undefined },
  ),
});

/** Structural mutation of a request object. */
const mutated = fc.tuple(
  request,
  fc.constantFrom("drop", "replace", "extra", "idtype", "none"),
  fc.constantFrom("id", "cmd", "args", "caps", "fds"),
  fc.jsonValue({ maxDepth: 3 }),
)
  .map(([req, how, key, value]) => {
    const r: Record<string, unknown> = { ...req };
    if (r.caps === undefined) delete r.caps;
    if (how === "drop") delete r[key];
    else if (how === "replace") r[key] = value;
    else if (how === "extra") r["x" + key] = value;
    else if (how === "idtype") {
      r.id = fc.sample(fc.constantFrom(1.5, true, [1], { a: 1 }, -0, 2 ** 60), 1)[0];
    }
    return JSON.stringify(r);
  });

/** Byte-level damage to a valid line. */
const damaged = fc.tuple(
  request.map((r) => JSON.stringify(r)),
  fc.array(
    fc.tuple(fc.nat(), fc.constantFrom(0x00, 0x0a, 0x0d, 0x22, 0x7b, 0x7d, 0xff, 0xc3, 0xe2, 0x5c)),
    { maxLength: 4 },
  ),
  fc.option(fc.nat(), { nil: undefined }),
)
  .map(([line, edits, cut]) => {
    const b = Array.from(enc.encode(line));
    for (const [pos, byte] of edits) b.splice(pos % (b.length + 1), 0, byte);
    const out = cut === undefined ? b : b.slice(0, cut % (b.length + 1));
    return new Uint8Array(out);
  });

/** One fuzz input: a list of chunks written in order. */
const input = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.array(fc.uint8Array({ maxLength: 512 }), { minLength: 1, maxLength: 4 }),
  },
  {
    weight: 2,
    arbitrary: fc.array(
      fc.oneof(
        fc.string({ maxLength: 80 }),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
        mutated,
      ),
      { minLength: 1, maxLength: 8 },
    ).map((ls) => [enc.encode(ls.join("\n") + "\n")]),
  },
  {
    weight: 3,
    arbitrary: fc.array(fc.oneof(mutated.map((s) => enc.encode(s + "\n")), damaged), {
      minLength: 1,
      maxLength: 6,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 65_000, max: 80_000 }), fc.constantFrom("x", "é", "{"))
      .map((
        [n, ch],
      ) => [enc.encode(`{"id":1,"cmd":"echo","args":{"p":"${ch.repeat(n)}`), enc.encode('"}}\n')]),
  },
);

Deno.test(
  "fuzz: random and mutated frames never crash the server, break other clients or leak descriptors",
  SOCKET_TEST,
  async () => {
    const child = await startChildServer({ capabilities: { tok: ["*"] } });
    const before = await client(child.address);
    try {
      await before.ping();
      const baseline = fdCount(child.pid);
      let runs = 0, probed = 0;
      await fc.assert(
        fc.asyncProperty(input, fc.boolean(), async (chunks, probe) => {
          runs++;
          const raw = await RawConn.open(child.address);
          try {
            for (const c of chunks) await raw.send(c);
            if (probe) {
              // End any partial line, then the connection must still answer a ping.
              await raw.send('\n{"id":"__probe","cmd":"ping"}\n');
              const m = await raw.readUntil((m) => m.id === "__probe", 5000);
              assert.equal(m.ok, true);
              probed++;
            }
          } finally {
            raw.close();
          }
        }),
        {
          numRuns: Number(Deno.env.get("FUZZ_RUNS") ?? 400),
          seed: Number(Deno.env.get("FUZZ_SEED") ?? Date.now() % 2 ** 31),
          endOnFailure: true,
        },
      );
      assert.ok(probed > 50, `probed ${probed} of ${runs}`);
      if (Deno.env.get("FUZZ_VERBOSE")) console.log(`fuzz: ${runs} inputs, ${probed} probed`);
      // The server survived, serves old and new clients, and dropped every fuzz connection.
      assert.equal((await before.ping()).name, "hardtest");
      const fresh = await client(child.address);
      assert.equal((await fresh.ping()).name, "hardtest");
      await fresh.close();
      assert.ok(
        await waitFor(
          async () => ((await before.request("stats")) as { sessions: number }).sessions === 1,
          5000,
          50,
        ),
        "all fuzz sessions closed on the server",
      );
      assert.ok(
        await waitFor(() => fdCount(child.pid) === baseline, 5000, 50),
        `server FDs ${fdCount(child.pid)} vs ${baseline} before`,
      );
      const exited = await Promise.race([
        child.status.then(() => true),
        new Promise((r) => setTimeout(() => r(false), 10)),
      ]);
      assert.equal(exited, false, "the server process is still running");
    } finally {
      await before.close();
      await child.stop();
    }
  },
);

Deno.test(
  "frames: BAD_FRAME / BAD_ARG answers for each kind of bad line, and the connection continues",
  SOCKET_TEST,
  async () => {
    const t = await startServer();
    const raw = await RawConn.open(t.address);
    const code = (m: Record<string, unknown>) => (m.error as { code: string }).code;
    try {
      const cases: [Uint8Array | string, string, unknown][] = [
        ["not json\n", "BAD_FRAME", null],
        ["[1,2]\n", "BAD_FRAME", null],
        ["42\n", "BAD_FRAME", null],
        [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), "BAD_FRAME", null],
        ['{"id":1.5,"cmd":"echo"}\n', "BAD_ARG", null],
        ['{"id":true,"cmd":"echo"}\n', "BAD_ARG", null],
        ['{"id":9007199254740993,"cmd":"echo"}\n', "BAD_ARG", null],
        ['{"id":3,"cmd":7}\n', "BAD_ARG", 3],
        ['{"id":4,"cmd":"echo","args":[1]}\n', "BAD_ARG", 4],
        ['{"id":5,"cmd":"echo","flat":1}\n', "BAD_ARG", 5],
        ['{"id":6,"cmd":"nope"}\n', "BAD_CMD", 6],
        ['{"id":7,"cmd":"echo","fds":2}\n', "BAD_FD", 7],
        ['{"id":8,"cmd":"subscribe","args":{"events":["bogus"]}}\n', "BAD_ARG", 8],
        ['{"id":9,"cmd":"subscribe","args":{"events":["other"],"k":"a"}}\n', "BAD_ARG", 9],
      ];
      for (const [line, want, id] of cases) {
        await raw.send(line);
        const m = await raw.readJson();
        assert.equal(
          code(m),
          want,
          `${typeof line === "string" ? line.trim() : "bytes"} → ${JSON.stringify(m)}`,
        );
        assert.equal(m.id, id);
      }
      // Blank lines and CRLF are fine; an id-less request is answered with id null.
      await raw.send('\n   \n\t\n{"id":10,"cmd":"echo","args":{"a":1}}\r\n{"cmd":"ping"}\n');
      assert.deepEqual(await raw.readJson(), { ok: true, id: 10, result: { a: 1 } });
      const pong = await raw.readJson();
      assert.equal(pong.id, null);
      assert.equal(pong.protocol, 0);
    } finally {
      raw.close();
      await t.stop();
    }
  },
);
