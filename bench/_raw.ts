/**
 * The raw baselines: a hand-written Deno NDJSON server and client with no SDK (one decode per read,
 * JSON.parse per line, one write per batch of responses). What the SDK is measured against.
 *
 * @module
 */

const enc = new TextEncoder();

/** Serves raw NDJSON ping-pong and event floods on `path` until the process ends. */
export async function rawServer(path: string): Promise<void> {
  const listener = Deno.listen({ transport: "unix", path });
  for await (const conn of listener) {
    (async () => {
      const dec = new TextDecoder();
      const buf = new Uint8Array(256 * 1024);
      let rest = "";
      for (;;) {
        const n = await conn.read(buf).catch(() => null);
        if (n === null) break;
        const text = rest + dec.decode(buf.subarray(0, n), { stream: true });
        const last = text.lastIndexOf("\n");
        if (last < 0) {
          rest = text;
          continue;
        }
        rest = text.slice(last + 1);
        const out: string[] = [];
        for (const line of text.slice(0, last).split("\n")) {
          const m = JSON.parse(line);
          if (m.cmd === "subscribe") {
            out.push(JSON.stringify({ ok: true, id: m.id, result: { sub: 1, events: m.args.events } }));
          } else if (m.cmd === "flood") {
            if (out.length > 0) {
              await writeAll(conn, enc.encode(out.join("\n") + "\n"));
              out.length = 0;
            }
            await flood(conn, m.args.count);
            out.push(JSON.stringify({ ok: true, id: m.id, result: { emitted: m.args.count } }));
          } else out.push(JSON.stringify({ ok: true, id: m.id, result: m.args }));
        }
        if (out.length > 0) await writeAll(conn, enc.encode(out.join("\n") + "\n"));
      }
      try {
        conn.close();
      } catch { /* closed */ }
    })();
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

async function flood(conn: Deno.Conn, count: number): Promise<void> {
  const batch = 512;
  for (let i = 1; i <= count; i += batch) {
    const lines: string[] = [];
    for (let j = i; j < i + batch && j <= count; j++) lines.push(`{"event":"tick","sub":1,"n":${j},"tag":"b"}`);
    const bytes = enc.encode(lines.join("\n") + "\n");
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  }
}

/** A raw NDJSON client: write lines, read and JSON.parse responses. */
export class RawClient {
  #conn: Deno.Conn;
  #dec = new TextDecoder();
  #buf = new Uint8Array(256 * 1024);
  #rest = "";
  #queue: unknown[] = [];

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(path: string): Promise<RawClient> {
    return new RawClient(await Deno.connect({ transport: "unix", path }));
  }

  async send(lines: string[]): Promise<void> {
    const bytes = enc.encode(lines.join("\n") + "\n");
    let off = 0;
    while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
  }

  /** Reads once (at least one message) and returns how many messages were parsed. */
  async receiveSome(): Promise<number> {
    if (this.#queue.length > 0) {
      const n = this.#queue.length;
      this.#queue.length = 0;
      return n;
    }
    for (;;) {
      const n = await this.#conn.read(this.#buf);
      if (n === null) throw new Error("closed");
      const text = this.#rest + this.#dec.decode(this.#buf.subarray(0, n), { stream: true });
      const end = text.lastIndexOf("\n");
      if (end < 0) {
        this.#rest = text;
        continue;
      }
      this.#rest = text.slice(end + 1);
      let count = 0;
      for (const line of text.slice(0, end).split("\n")) {
        JSON.parse(line);
        count++;
      }
      return count;
    }
  }

  /** Reads until `count` messages were parsed; returns the last one. */
  async receive(count: number): Promise<unknown> {
    let last: unknown;
    while (count > 0) {
      if (this.#queue.length > 0) {
        last = this.#queue.shift();
        count--;
        continue;
      }
      const n = await this.#conn.read(this.#buf);
      if (n === null) throw new Error("closed");
      const text = this.#rest + this.#dec.decode(this.#buf.subarray(0, n), { stream: true });
      const end = text.lastIndexOf("\n");
      if (end < 0) {
        this.#rest = text;
        continue;
      }
      this.#rest = text.slice(end + 1);
      for (const line of text.slice(0, end).split("\n")) {
        const m = JSON.parse(line);
        if (count > 0) {
          last = m;
          count--;
        } else this.#queue.push(m);
      }
    }
    return last;
  }

  close(): void {
    this.#conn.close();
  }
}
