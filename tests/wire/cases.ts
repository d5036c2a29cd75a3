/**
 * Parser and matcher for the golden wire cases (tests/wire/*.cases). Runtime-neutral: the Deno and
 * Node replays import it; the C replay has its own small reader of the same format.
 *
 * @module
 */

/** One step: bytes to send, or a message to expect. */
export type Step = { send: Uint8Array } | { expect: unknown };

/** A named case: a fresh connection, its steps in order. */
export interface WireCase {
  name: string;
  steps: Step[];
}

const enc = new TextEncoder();

/** Builds the `>big n` line: an echo request of exactly `n` bytes. */
export function bigLine(n: number): Uint8Array {
  const head = '{"id":99,"cmd":"echo","args":{"text":"';
  const tail = '"}}';
  const fill = n - head.length - tail.length;
  if (fill < 0) throw new RangeError(`Cannot build a ${n}-byte line`);
  return enc.encode(head + "a".repeat(fill) + tail);
}

function hex(s: string): Uint8Array {
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Parses a `.cases` file.
 *
 * @param text The file's text.
 * @returns The cases in file order.
 */
export function parseCases(text: string): WireCase[] {
  const cases: WireCase[] = [];
  let current: WireCase | undefined;
  text.split("\n").forEach((line, i) => {
    if (line.startsWith("## ")) {
      current = { name: line.slice(3).trim(), steps: [] };
      cases.push(current);
      return;
    }
    if (line.startsWith("#") || line.trim() === "") return;
    if (!current) throw new SyntaxError(`line ${i + 1}: step outside a case`);
    if (line.startsWith(">hex ")) current.steps.push({ send: hex(line.slice(5).trim()) });
    else if (line.startsWith(">big ")) current.steps.push({ send: bigLine(Number(line.slice(5))) });
    else if (line.startsWith("> ") || line === ">") current.steps.push({ send: enc.encode(line.slice(2)) });
    else if (line.startsWith("< ")) current.steps.push({ expect: JSON.parse(line.slice(2)) });
    else throw new SyntaxError(`line ${i + 1}: cannot read "${line.slice(0, 20)}"`);
  });
  return cases;
}

/**
 * Compares a received message with an expected one; `"*"` matches any value.
 *
 * @returns `undefined` when they match, else a description of the first difference.
 */
export function mismatch(expected: unknown, actual: unknown, path = ""): string | undefined {
  if (expected === "*") return actual === undefined ? `${path || "/"}: missing` : undefined;
  if (expected === null || typeof expected !== "object") {
    return expected === actual ? undefined : `${path || "/"}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  if (actual === null || typeof actual !== "object" || Array.isArray(expected) !== Array.isArray(actual)) {
    return `${path || "/"}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
  }
  const e = expected as Record<string, unknown>, a = actual as Record<string, unknown>;
  for (const k of new Set([...Object.keys(e), ...Object.keys(a)])) {
    if (!(k in e)) return `${path}/${k}: unexpected ${JSON.stringify(a[k])}`;
    const m = mismatch(e[k], a[k], `${path}/${k}`);
    if (m) return m;
  }
  return undefined;
}
