/**
 * Shared fixture of the hardening suite: a small hand-written service ("hardtest") served by
 * `PortServer` on a real Unix socket in a temp dir, a raw line-oriented socket for malformed input
 * and stalled reading, and process figures (/proc FD count, VmRSS). Also used by bench/memory.ts
 * and scripts/soak.ts (through tests/hardening/_server_main.ts).
 *
 * @module
 */

import {
  connect,
  type ConnectOptions,
  PortClient,
  PortError,
  PortServer,
  type RequestContext,
  type ServerDescriptor,
  type ServerOptions,
} from "../../sdk/ts/mod.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";
import type { Listener, Platform } from "../../sdk/ts/core/transport.ts";

/** The test service: commands with and without caps, a slow one, an emitter, stats. */
export const hardDescriptor: ServerDescriptor = {
  name: "hardtest",
  version: "1.0.0",
  protocol: 0,
  commands: {
    echo: {},
    secret: { caps: ["secret.read"] },
    admin: { caps: ["admin.write", "secret.read"] },
    slow: {},
    emit: {},
    stats: {},
  },
  events: { tick: { filters: ["k"] }, other: {}, alarm: { caps: ["secret.read"] } },
  schema: { service: "hardtest", version: "1.0.0", protocol: 0 },
  validateArgs: {},
};

/** What handlers saw, for assertions. */
export interface HandlerLog {
  /** Requests of `slow` whose signal fired: request id → abort reason code. */
  aborted: Map<string | number | null, string>;
  /** Requests of `slow` that started. */
  started: (string | number | null)[];
  /** Resolvers waiting for the next `slow` start. */
  onStart: ((id: string | number | null) => void)[];
}

/** Waits for the next `slow` handler to start. */
export function nextStart(log: HandlerLog): Promise<string | number | null> {
  return new Promise((resolve) => log.onStart.push(resolve));
}

/** Handlers of the test service. `server()` gives emit access. */
export function hardHandlers(server: () => PortServer, log: HandlerLog) {
  return {
    echo: (args: unknown) => args,
    secret: () => ({ secret: 42 }),
    admin: () => ({ admin: true }),
    slow: (args: { ms?: number }, ctx: RequestContext) =>
      new Promise((resolve, reject) => {
        log.started.push(ctx.id);
        const waiters = log.onStart.splice(0);
        for (const w of waiters) w(ctx.id);
        const signal = ctx.signal;
        const t = args.ms === undefined
          ? undefined
          : setTimeout(() => resolve({ waited: args.ms }), args.ms);
        const onAbort = () => {
          clearTimeout(t);
          const r = signal.reason;
          log.aborted.set(ctx.id, r instanceof PortError ? r.code : String(r));
          reject(r);
        };
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    emit: (args: { count: number; k?: unknown; event?: string }) => {
      const s = server();
      let queued = 0;
      for (let i = 1; i <= args.count; i++) {
        queued += s.emit(
          args.event ?? "tick",
          args.k === undefined ? { n: i } : { n: i, k: args.k },
        );
      }
      return { queued };
    },
    stats: () => ({
      sessions: server().sessions.size,
      rss: rssOf("self"),
      fds: fdCount("self"),
    }),
  };
}

/** A running test server. */
export interface TestServer {
  server: PortServer;
  address: string;
  dir: string;
  log: HandlerLog;
  listener: Listener;
  /** Closes the server (graceful) and removes the temp dir. */
  stop(): Promise<void>;
}

/** Starts the test service on a fresh socket in a temp dir (or on `address`). */
export async function startServer(
  options: ServerOptions = {},
  address?: string,
  platform: Platform = denoPlatform,
): Promise<TestServer> {
  const dir = await Deno.makeTempDir({ prefix: "clp-hard-" });
  const addr = address ?? `${dir}/hardtest.sock`;
  const log: HandlerLog = { aborted: new Map(), started: [], onStart: [] };
  const server: PortServer = new PortServer(hardDescriptor, hardHandlers(() => server, log), {
    onError: () => {},
    ...options,
  });
  const listener = await platform.listen(addr, (c) => server.accept(c), { fdPassing: platform !== denoPlatform });
  return {
    server,
    address: addr,
    dir,
    log,
    listener,
    async stop() {
      await listener.close();
      await server.close(500);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Connects a protocol client on the plain Deno platform. */
export function client(address: string, options: ConnectOptions = {}): Promise<PortClient> {
  return connect(address, { platform: denoPlatform, ...options });
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A raw socket that sends arbitrary bytes and reads lines only when asked. */
export class RawConn {
  readonly conn: Deno.UnixConn;
  #buf = new Uint8Array(0);
  #eof = false;
  #closed = false;

  private constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  static async open(address: string): Promise<RawConn> {
    const path = address.startsWith("@") ? "\0" + address.slice(1) : address;
    return new RawConn(await Deno.connect({ transport: "unix", path }));
  }

  /** Writes a string (as is) or bytes. */
  async send(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }

  /** Sends one JSON object as a line. */
  sendJson(msg: unknown): Promise<void> {
    return this.send(JSON.stringify(msg) + "\n");
  }

  /** Reads one line (without `\n`); `null` at EOF. Rejects after `timeoutMs`. */
  async readLine(timeoutMs = 5000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.#buf.indexOf(10);
      if (nl >= 0) {
        const line = dec.decode(this.#buf.subarray(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#eof) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("RawConn.readLine timed out");
      const chunk = new Uint8Array(256 * 1024);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.conn.read(chunk),
        new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), left))),
      ]).finally(() => clearTimeout(timer));
      if (n === "timeout") throw new Error("RawConn.readLine timed out");
      if (n === null) {
        this.#eof = true;
        continue;
      }
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }

  /** Reads one line and parses it (throws at EOF). */
  async readJson(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const line = await this.readLine(timeoutMs);
    if (line === null) throw new Error("RawConn: EOF");
    return JSON.parse(line);
  }

  /** Reads lines until `pred` matches one (returns it); the others go to `skipped`. */
  async readUntil(
    pred: (m: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
    skipped?: Record<string, unknown>[],
  ): Promise<Record<string, unknown>> {
    for (;;) {
      const m = await this.readJson(timeoutMs);
      if (pred(m)) return m;
      skipped?.push(m);
    }
  }

  /** Whether the peer closed (reads until EOF or timeout; discards data). */
  async waitEof(timeoutMs = 3000): Promise<boolean> {
    try {
      for (;;) if ((await this.readLine(timeoutMs)) === null) return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

/** Open descriptors of a process (`/proc/<pid>/fd`). */
export function fdCount(pid: number | "self"): number {
  let n = 0;
  for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
  return n;
}

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
export function rssOf(pid: number | "self"): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Polls `cond` until true or `timeoutMs` passed; returns the last value. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 3000,
  stepMs = 10,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** `Deno.test` options for socket tests (sockets close asynchronously after a test body ends). */
export const SOCKET_TEST = { sanitizeOps: false, sanitizeResources: false } as const;

/** A child process running tests/hardening/_server_main.ts. */
export interface ChildServer {
  pid: number;
  address: string;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts the test service in a child Deno process (for RSS/FD figures of the server alone and for
 * crash detection). Resolves once it listens.
 */
export async function startChildServer(
  options: ServerOptions = {},
  extraFlags: string[] = [],
): Promise<ChildServer & { status: Promise<Deno.CommandStatus> }> {
  const dir = await Deno.makeTempDir({ prefix: "clp-hard-child-" });
  const address = `${dir}/hardtest.sock`;
  const main = new URL("./_server_main.ts", import.meta.url).pathname;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...extraFlags, main, address, JSON.stringify(options)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  });
  const child = cmd.spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`child server exited before listening: ${text}`);
    text += dec.decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    pid: child.pid,
    address,
    dir,
    status: child.status,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.stdin.close().catch(() => {});
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
