/**
 * The golden wire cases (tests/wire/echo.cases, parsed by tests/wire/cases.ts compiled for Node)
 * replayed byte for byte by Node over raw node:net sockets, against the Node-served echo stub (in
 * this process) and the Deno echo service (tests/echo_main.ts in a child process).
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs and tests/node/prepare.mjs).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LIB, rawNet, ROOT, startDenoEcho, tempDir } from "./helpers.mjs";

const { parseCases, mismatch } = await import(join(LIB, "wire_cases.js"));
const { startNodeEcho } = await import(join(LIB, "echo_node.js"));
const cases = parseCases(readFileSync(join(ROOT, "tests/wire/echo.cases"), "utf8"));

test("the golden cases parse, each expects something", () => {
  assert.ok(cases.length >= 30, `only ${cases.length} cases`);
  for (const c of cases) {
    assert.ok(c.steps.some((s) => "expect" in s), `case "${c.name}" expects nothing`);
  }
  // The matcher is strict: a wrong value and an extra key are both reported.
  assert.match(mismatch({ ok: true, id: 1 }, { ok: true, id: 2 }), /\/id: expected 1, got 2/);
  assert.match(mismatch({ ok: true }, { ok: true, x: 1 }), /\/x: unexpected/);
  assert.equal(mismatch({ a: "*" }, { a: [1] }), undefined);
});

const targets = [
  ["Node-served echo stub", async (address) => {
    const server = await startNodeEcho(address);
    return () => server.close();
  }],
  ["Deno echo service", async (address) => {
    const child = await startDenoEcho(address);
    return () => child.stop();
  }],
];

for (const [name, start] of targets) {
  describe(`golden wire cases replayed by Node against the ${name}`, () => {
    let tmp, address, stop;
    before(async () => {
      tmp = tempDir();
      address = join(tmp.dir, "echo.sock");
      stop = await start(address);
    });
    after(async () => {
      await stop?.();
      tmp.cleanup();
    });

    for (const c of cases) {
      test(c.name, async () => {
        const conn = await rawNet(address);
        try {
          for (const s of c.steps) if ("send" in s) conn.send(s.send);
          const expected = c.steps.filter((s) => "expect" in s).map((s) => s.expect);
          const got = await conn.next(expected.length, 5000);
          assert.equal(
            got.length,
            expected.length,
            `expected ${expected.length} messages, got ${JSON.stringify(got)}`,
          );
          expected.forEach((e, i) => {
            const m = mismatch(e, got[i]);
            assert.equal(m, undefined, `message ${i + 1}: ${m}\n  got ${JSON.stringify(got[i])}`);
          });
          // Nothing beyond the expected messages arrives (no duplicate answers).
          assert.deepEqual(await conn.next(1, 30), []);
        } finally {
          // Cases share one server: wait until it has ended this session (and its subscriptions).
          await conn.end();
        }
      });
    }
  });
}
