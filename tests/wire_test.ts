// Replays the golden wire cases against the echo service over a real Unix socket, byte for byte.
import { parseCases, mismatch } from "./wire/cases.ts";
import { startEcho } from "./echo_impl.ts";

const cases = parseCases(await Deno.readTextFile(new URL("./wire/echo.cases", import.meta.url)));

async function readMessages(conn: Deno.Conn, count: number, timeoutMs: number): Promise<unknown[]> {
  const out: unknown[] = [];
  const dec = new TextDecoder();
  let buf = "";
  const chunk = new Uint8Array(65536);
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const timer = setTimeout(() => conn.close(), left);
    let n: number | null = null;
    try {
      n = await conn.read(chunk);
    } catch {
      n = null;
    } finally {
      clearTimeout(timer);
    }
    if (n === null) break;
    buf += dec.decode(chunk.subarray(0, n), { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      out.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
    }
  }
  return out;
}

Deno.test("wire cases parse and each has steps", () => {
  if (cases.length < 30) throw new Error(`only ${cases.length} cases`);
  for (const c of cases) {
    if (!c.steps.some((s) => "expect" in s)) throw new Error(`case "${c.name}" expects nothing`);
  }
});

Deno.test("golden wire cases replay against the echo service", async (t) => {
  const dir = await Deno.makeTempDir();
  const address = `${dir}/echo.sock`;
  const server = await startEcho(address, { onError: () => {} });
  try {
    for (const c of cases) {
      await t.step(c.name, async () => {
        const conn = await Deno.connect({ transport: "unix", path: address });
        try {
          for (const s of c.steps) {
            if ("send" in s) {
              const line = new Uint8Array(s.send.length + 1);
              line.set(s.send);
              line[s.send.length] = 10;
              let off = 0;
              while (off < line.length) off += await conn.write(line.subarray(off));
            }
          }
          const expected = c.steps.filter((s) => "expect" in s).map((s) => (s as { expect: unknown }).expect);
          const got = await readMessages(conn, expected.length, 5000);
          if (got.length !== expected.length) {
            throw new Error(`expected ${expected.length} messages, got ${got.length}: ${JSON.stringify(got)}`);
          }
          expected.forEach((e, i) => {
            const m = mismatch(e, got[i]);
            if (m) throw new Error(`message ${i + 1}: ${m}\n  got ${JSON.stringify(got[i])}`);
          });
        } finally {
          try {
            conn.close();
          } catch { /* closed by timeout */ }
        }
      });
    }
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
