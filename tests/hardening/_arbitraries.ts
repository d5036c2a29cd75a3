/**
 * fast-check arbitraries for fuzzing a ports server (used by fuzz_test.ts and scripts/soak.ts):
 * random bytes, random lines, structurally mutated and byte-damaged requests, oversized lines.
 *
 * @module
 */

import fc from "fast-check";

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
export const fuzzInput: fc.Arbitrary<Uint8Array[]> = fc.oneof(
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
