import assert from "node:assert/strict";
import { LineDecoder, utf8Length } from "./framing.ts";

const enc = new TextEncoder();

function collect(max = 64) {
  const lines: string[] = [];
  const bad: string[] = [];
  const d = new LineDecoder(max);
  const sink = { line: (t: string) => lines.push(t), bad: (c: string) => bad.push(c) };
  return { d, lines, bad, push: (s: string | Uint8Array) => d.push(typeof s === "string" ? enc.encode(s) : s, sink) };
}

Deno.test("lines split across chunks, several per chunk, CRLF and blanks", () => {
  const c = collect();
  c.push('{"a":1}\n{"b"');
  c.push(':2}\r\n\n   \n{"c":3}');
  assert.deepEqual(c.lines, ['{"a":1}', '{"b":2}']);
  c.push("\n");
  assert.deepEqual(c.lines, ['{"a":1}', '{"b":2}', '{"c":3}']);
  assert.equal(c.d.buffered, 0);
});

Deno.test("every split point of a multi-byte stream gives the same lines", () => {
  const text = '{"t":"héllo ✓ 😀"}\n{"u":"日本"}\n';
  const bytes = enc.encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    const c = collect(1024);
    c.push(bytes.subarray(0, i));
    c.push(bytes.subarray(i));
    assert.deepEqual(c.lines, ['{"t":"héllo ✓ 😀"}', '{"u":"日本"}'], `split at ${i}`);
  }
});

Deno.test("an oversized line is skipped without being buffered, the next one is delivered", () => {
  const c = collect(16);
  c.push("x".repeat(10));
  c.push("y".repeat(10));
  assert.ok(c.d.buffered <= 17);
  c.push("z".repeat(1000));
  assert.equal(c.d.buffered, 0, "discarding keeps nothing");
  c.push('zz\n{"ok":1}\n');
  assert.deepEqual(c.bad, ["TOO_LARGE"]);
  assert.deepEqual(c.lines, ['{"ok":1}']);
});

Deno.test("oversized lines inside one chunk, exact limit accepted", () => {
  const c = collect(8);
  c.push("12345678\n123456789\nabc\n");
  assert.deepEqual(c.lines, ["12345678", "abc"]);
  assert.deepEqual(c.bad, ["TOO_LARGE"]);
  // Multi-byte: 3 chars, 9 bytes > 8.
  const d = collect(8);
  d.push("日本語\n");
  assert.deepEqual(d.bad, ["TOO_LARGE"]);
});

Deno.test("invalid UTF-8 fails only its own line", () => {
  const c = collect();
  c.push(new Uint8Array([0x61, 0x0a, 0xff, 0xfe, 0x0a, 0x62, 0x0a]));
  assert.deepEqual(c.lines, ["a", "b"]);
  assert.deepEqual(c.bad, ["BAD_FRAME"]);
});

Deno.test("reset drops a partial line", () => {
  const c = collect();
  c.push("partial");
  assert.equal(c.d.reset(), 7);
  c.push("\nnext\n");
  assert.deepEqual(c.lines, ["next"]);
});

Deno.test("utf8Length counts bytes", () => {
  assert.equal(utf8Length("a"), 1);
  assert.equal(utf8Length("é"), 2);
  assert.equal(utf8Length("✓"), 3);
  assert.equal(utf8Length("😀"), 4);
  assert.equal(utf8Length("😀"), enc.encode("😀").length);
  assert.throws(() => new LineDecoder(0), RangeError);
});

Deno.test("batchJson delivers exactly what line-by-line parsing delivers", () => {
  const inputs = [
    '{"a":1}\n{"b":2}\n{"c":3}\n',
    '{"a":1}\r\n{"b":"é😀"}\r\n',
    '{"a":1}\n\n{"b":2}\n   \n',
    '{"a":1}\n{"b":\n{"c":3}\n',
    '{"a":1}\n[1,2]\n"s"\n{"c":3}\n',
    '{"a":1}\n' + '{"big":"' + "x".repeat(100) + '"}\n{"c":3}\n',
  ];
  for (const input of inputs) {
    const run = (batch: boolean) => {
      const got: string[] = [];
      const d = new LineDecoder(64, { batchJson: batch });
      d.push(enc.encode(input), {
        line: (t) => {
          try {
            got.push("v:" + JSON.stringify(JSON.parse(t)));
          } catch {
            got.push("bad-json");
          }
        },
        value: (v) => got.push("v:" + JSON.stringify(v)),
        bad: (c) => got.push("bad:" + c),
      });
      return got;
    };
    assert.deepEqual(run(true), run(false), JSON.stringify(input));
  }
});

Deno.test("batchJson falls back when joined lines would parse into other values", () => {
  // Alone each line is malformed; joined with commas they would make two valid objects.
  const input = '{"a":"}\n{","b":1}\n{"c":1},{"d":2}\n';
  const values: unknown[] = [];
  const lines: string[] = [];
  const d = new LineDecoder(1024, { batchJson: true });
  d.push(enc.encode(input), { line: (t) => lines.push(t), value: (v) => values.push(v), bad: () => {} });
  // The batch has 3 values for 3 lines here, so the decoder cannot tell: this is why batchJson is
  // only for trusted peers. Without batchJson every line is delivered as written.
  const strict: string[] = [];
  new LineDecoder(1024).push(enc.encode(input), { line: (t) => strict.push(t), bad: () => {} });
  assert.equal(strict.length, 3);
  assert.equal(values.length + lines.length, 3);
});

Deno.test("a genuine U+FFFD is valid UTF-8 and passes; a broken sequence next to one does not", () => {
  const c = collect(1024);
  c.push('{"t":"\uFFFD"}\n');
  c.push(new Uint8Array([...enc.encode('{"t":"\uFFFD'), 0xc3, 0x22, 0x7d, 0x0a]));
  assert.deepEqual(c.lines, ['{"t":"\uFFFD"}']);
  assert.deepEqual(c.bad, ["BAD_FRAME"]);
});

Deno.test("pushText frames like push: splits, CRLF, blanks, oversized lines, batches", () => {
  const input = '{"a":1}\r\n\n{"b":"é😀"}\n' + '{"x":"' + "y".repeat(80) + '"}\n{"c":3}\n';
  for (const batch of [false, true]) {
    const fromBytes: string[] = [], fromText: string[] = [];
    const sinkFor = (out: string[]) => ({
      line: (t: string) => out.push("v:" + JSON.stringify(JSON.parse(t))),
      value: (v: unknown) => out.push("v:" + JSON.stringify(v)),
      bad: (c: string) => out.push("bad:" + c),
    });
    const b = new LineDecoder(64, { batchJson: batch });
    const bytes = enc.encode(input);
    b.push(bytes.subarray(0, 13), sinkFor(fromBytes));
    b.push(bytes.subarray(13), sinkFor(fromBytes));
    const t = new LineDecoder(64, { batchJson: batch });
    for (let i = 0; i < input.length; i += 7) t.pushText(input.slice(i, i + 7), sinkFor(fromText));
    assert.deepEqual(fromText, fromBytes, `batch=${batch}`);
    assert.deepEqual(fromText, ['v:{"a":1}', 'v:{"b":"é😀"}', "bad:TOO_LARGE", 'v:{"c":3}']);
  }
});
