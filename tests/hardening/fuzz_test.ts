/**
 * Fuzzing (fast-check): random bytes, random lines and mutated valid requests sent to a server in
 * a child process. After each run: the server is alive, answers a fresh client and a pre-existing
 * client, every fuzz connection is gone and its descriptor count is back where it started.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { fuzzInput as input } from "./_arbitraries.ts";
import {
  client,
  fdCount,
  RawConn,
  SOCKET_TEST,
  startChildServer,
  startServer,
  waitFor,
} from "./_fixture.ts";

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
