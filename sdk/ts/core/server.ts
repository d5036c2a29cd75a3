/**
 * The protocol server: framing, envelope checks, argument validation, dispatch, the reserved
 * commands (`ping`, `describe`, `subscribe`, `unsubscribe`, `cancel`), capabilities, quotas, event
 * fan-out with bounded queues and exact `dropped` counts, FD ownership. One instance serves many
 * connections; a failing handler or a misbehaving client never stops the others.
 *
 * @module
 */

import { Channel } from "./channel.ts";
import { PROTOCOL_VERSION, type ServerDescriptor } from "./descriptor.ts";
import { ErrorCode, errorMessage, PortError } from "./errors.ts";
import { closeFdHandles, decodeFds, encodeFds } from "./fd_refs.ts";
import type { Connection, FdHandle } from "./transport.ts";

/** What a handler gets besides its arguments. */
export interface RequestContext {
  /** The request id (`null` when the client sent none). */
  readonly id: string | number | null;
  /** The command name. */
  readonly cmd: string;
  /** Fires when the client cancels, times out the call, or disconnects, or the server stops. */
  readonly signal: AbortSignal;
  /** The descriptors that came with the request, in `fd_index` order (also substituted in args). */
  readonly fds: readonly FdHandle[];
  /** The capability tokens the request carried. */
  readonly caps: readonly string[];
  /** The connection the request came on. */
  readonly session: Session;
}

/** A command handler. Returning `undefined` answers `{}`. */
// deno-lint-ignore no-explicit-any
export type Handler = (args: any, ctx: RequestContext) => unknown;

/** Capability configuration: token → capability names it grants (`"*"` grants all). */
export type CapabilityTable = Record<string, readonly string[]>;

/** Server options (defaults in schemas/PROTOCOL.md §8). */
export interface ServerOptions {
  /** Longest line in bytes. Default 65,536. */
  maxMessage?: number;
  /** Most descriptors per message. Default 16. */
  maxFdsPerMessage?: number;
  /** Most descriptors queued or kept per connection. Default 64. */
  maxFdsPerConnection?: number;
  /** Most requests in flight per connection. Default 256. */
  maxInFlight?: number;
  /** Most queued outgoing events per connection before dropping. Default 1,024. */
  maxQueuedEvents?: number;
  /** Most simultaneous connections. Default 4,096. */
  maxConnections?: number;
  /** Requests per second per connection (token bucket, burst = rate). Default: unlimited. */
  rateLimit?: number;
  /**
   * Accepted capability tokens. When set, commands whose schema lists `caps` need a token granting
   * all of them, and so does subscribing to an event whose schema lists `caps`. When unset,
   * capabilities are not enforced (v0 services).
   */
  capabilities?: CapabilityTable;
  /** Check handler results against the schema (answers INTERNAL on a mismatch). Default false. */
  validateResults?: boolean;
  /** Called for handler failures and other server-side problems. Default `console.error`. */
  onError?: (error: unknown, where: string) => void;
}

interface InFlight {
  controller?: AbortController;
  done: boolean;
}

interface SubState {
  events: Set<string>;
  filters: [string, unknown][] | undefined;
  dropped: number;
}

const ENVELOPE_KEYS = new Set(["id", "cmd", "args", "caps", "fds"]);
const EMPTY: readonly never[] = Object.freeze([]) as readonly never[];

function closeAll(fds: readonly FdHandle[] | undefined): void {
  if (fds) for (const fd of fds) if (!fd.kept) fd.close();
}

/** Edit distance, for "did you mean" suggestions. */
function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length];
}

/** The closest of `names` to `name`, if reasonably close. */
export function suggest(name: string, names: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of names) {
    const dd = distance(name, n);
    if (dd < bestD) {
      bestD = dd;
      best = n;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** One client connection on a server. */
export class Session {
  /** Sequential number of this connection on its server. */
  readonly number: number;
  readonly #server: PortServer;
  readonly channel: Channel;
  readonly #inflight = new Map<string | number | symbol, InFlight>();
  readonly #subs = new Map<number, SubState>();
  #nextSub = 1;
  #tokens: number;
  #lastRefill: number;
  #droppedPending = false;
  #closed = false;
  #ended = false;
  /**
   * Descriptors held by this connection's running handlers (counted against the FD quota with
   * those queued in the channel). Descriptors a handler `keep()`s belong to the service afterwards.
   */
  heldFds = 0;

  /** @internal Created by the server. */
  constructor(server: PortServer, connection: Connection, number: number) {
    this.#server = server;
    this.number = number;
    this.#tokens = server.options.rateLimit ?? 0;
    this.#lastRefill = performance.now();
    this.channel = new Channel(connection, {
      message: (msg, fds, fdError) => this.#message(msg, fds, fdError),
      bad: (code, message) => this.#reply(null, code, message),
      closed: () => this.#closedNow(),
      ended: () => this.#endedNow(),
      drained: () => this.#sendDropped(),
    }, {
      maxMessage: server.options.maxMessage,
      maxFdsPerMessage: server.options.maxFdsPerMessage,
      maxQueuedFds: server.options.maxFdsPerConnection,
    });
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of active subscriptions. */
  get subscriptions(): number {
    return this.#subs.size;
  }

  /** Requests being handled. */
  get inFlight(): number {
    return this.#inflight.size;
  }

  /** Closes this connection. In-flight handlers are aborted. */
  close(): void {
    this.channel.close();
  }

  /** @internal Fan-out: queue one event line for every matching subscription. */
  _deliver(
    name: string,
    payload: Record<string, unknown>,
    head: string,
    tail: string,
    fds: number[] | undefined,
  ): void {
    const limit = this.#server.maxQueuedEvents;
    for (const [sub, st] of this.#subs) {
      if (!st.events.has(name)) continue;
      if (st.filters !== undefined && !matches(st.filters, payload)) continue;
      if (this.channel.eventsQueued >= limit) {
        st.dropped++;
        if (!this.#droppedPending) {
          this.#droppedPending = true;
          this.channel.wantDrain(limit);
        }
        continue;
      }
      this.channel.sendLine(head + sub + tail, fds, true);
    }
  }

  #sendDropped(): void {
    this.#droppedPending = false;
    for (const [sub, st] of this.#subs) {
      if (st.dropped > 0) {
        const count = st.dropped;
        st.dropped = 0;
        this.channel.send({ event: "dropped", sub, reason: "backpressure", count });
      }
    }
  }

  #reply(id: string | number | null, code: string, message: string, data?: unknown): void {
    const error: Record<string, unknown> = { code, message };
    if (data !== undefined) error.data = data;
    this.channel.send({ ok: false, id, error });
  }

  #allow(): boolean {
    const rate = this.#server.options.rateLimit;
    if (!rate) return true;
    const now = performance.now();
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#lastRefill) / 1000) * rate);
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  #message(msg: Record<string, unknown>, fds: FdHandle[] | undefined, fdError: string | undefined): void {
    const rawId = msg.id;
    let id: string | number | null = null;
    if (rawId !== undefined && rawId !== null) {
      if (typeof rawId === "string" || (typeof rawId === "number" && Number.isSafeInteger(rawId))) {
        id = rawId;
      } else {
        closeAll(fds);
        this.#reply(null, ErrorCode.BAD_ARG, `"id" must be a string or an integer`, { path: "/id" });
        return;
      }
    }
    if (fdError !== undefined) {
      this.#reply(id, ErrorCode.BAD_FD, fdError);
      return;
    }
    const cmd = msg.cmd;
    if (typeof cmd !== "string") {
      closeAll(fds);
      this.#reply(id, ErrorCode.BAD_ARG, `"cmd" must be a string naming a command`, { path: "/cmd" });
      return;
    }
    for (const key in msg) {
      if (!ENVELOPE_KEYS.has(key)) {
        closeAll(fds);
        this.#reply(
          id,
          ErrorCode.BAD_ARG,
          `Unknown top-level key "${key}": command arguments belong in "args" (ports v0)`,
          { path: "/" + key },
        );
        return;
      }
    }
    let args = msg.args;
    if (args === undefined) args = {};
    else if (args === null || typeof args !== "object" || Array.isArray(args)) {
      closeAll(fds);
      this.#reply(id, ErrorCode.BAD_ARG, `"args" must be an object`, { path: "/args" });
      return;
    }
    let caps: readonly string[] = EMPTY;
    if (msg.caps !== undefined) {
      if (typeof msg.caps === "string") caps = [msg.caps];
      else if (Array.isArray(msg.caps) && msg.caps.every((c) => typeof c === "string")) caps = msg.caps;
      else {
        closeAll(fds);
        this.#reply(id, ErrorCode.BAD_ARG, `"caps" must be a string or an array of strings`, { path: "/caps" });
        return;
      }
    }
    if (!this.#allow()) {
      closeAll(fds);
      this.#reply(id, ErrorCode.BUSY, `Rate limit of ${this.#server.options.rateLimit} requests per second exceeded`);
      return;
    }
    this.#server._dispatch(this, id, cmd, args as Record<string, unknown>, caps, fds ?? EMPTY);
  }

  /** @internal Runs a request and answers it. */
  _run(
    id: string | number | null,
    cmd: string,
    args: Record<string, unknown>,
    caps: readonly string[],
    fds: readonly FdHandle[],
    handler: Handler,
  ): void {
    // Map keys compare by SameValueZero: the id 1 and the id "1" stay distinct.
    const key = id === null ? undefined : id;
    if (key !== undefined && this.#inflight.has(key)) {
      closeAll(fds);
      this.#reply(id, ErrorCode.BUSY, `Request id ${JSON.stringify(id)} is already in flight`);
      return;
    }
    if (this.#inflight.size >= this.#server.maxInFlight) {
      closeAll(fds);
      this.#reply(id, ErrorCode.BUSY, `Too many requests in flight (limit ${this.#server.maxInFlight})`);
      return;
    }
    const entry: InFlight = { done: false };
    this.heldFds += fds.length;
    const ctx = new Context(id, cmd, fds, caps, this, entry);
    let out: unknown;
    try {
      out = handler(args, ctx);
    } catch (error) {
      this.#finish(id, cmd, entry, fds, undefined, error);
      return;
    }
    if (out !== null && typeof out === "object" && typeof (out as Promise<unknown>).then === "function") {
      const k: string | number | symbol = key ?? Symbol("anonymous request");
      this.#inflight.set(k, entry);
      const settle = (result: unknown, error: unknown) => {
        this.#inflight.delete(k);
        this.#finish(id, cmd, entry, fds, result, error);
        if (this.#ended) this.#closeIfDone();
      };
      (out as Promise<unknown>).then((result) => settle(result, undefined), (error) => settle(undefined, error));
    } else {
      this.#finish(id, cmd, entry, fds, out, undefined);
    }
  }

  #finish(
    id: string | number | null,
    cmd: string,
    entry: InFlight,
    fds: readonly FdHandle[],
    result: unknown,
    error: unknown,
  ): void {
    this.heldFds -= fds.length;
    for (const fd of fds) if (!fd.kept) fd.close();
    if (entry.done || this.#closed) {
      // Cancelled (already answered) or nobody to answer: close descriptors of the result.
      if (error === undefined) this.#server._discardResult(cmd, result);
      return;
    }
    entry.done = true;
    if (error !== undefined) {
      if (error instanceof PortError) {
        this.#reply(id, error.code, error.message, error.data);
      } else {
        const onError = this.#server.options.onError;
        if (onError) onError(error, `handler of "${cmd}"`);
        else console.error(`copperline-ports: handler of "${cmd}" failed:`, error);
        this.#reply(id, ErrorCode.INTERNAL, `Handler of "${cmd}" failed: ${errorMessage(error)}`);
      }
      return;
    }
    this.#server._respond(this, id, cmd, result);
  }

  /** @internal Cancel an in-flight request. */
  _cancel(target: string | number): boolean {
    const entry = this.#inflight.get(target);
    if (entry === undefined || entry.done) return false;
    entry.done = true;
    entry.controller?.abort(new PortError(ErrorCode.CANCELLED, "The request was cancelled"));
    this.#reply(target, ErrorCode.CANCELLED, "The request was cancelled");
    return true;
  }

  /** @internal */
  _subscribe(events: string[], filters: [string, unknown][] | undefined): number {
    const sub = this.#nextSub++;
    this.#subs.set(sub, { events: new Set(events), filters, dropped: 0 });
    return sub;
  }

  /** @internal */
  _unsubscribe(sub: number): SubState | undefined {
    const st = this.#subs.get(sub);
    if (st) this.#subs.delete(sub);
    return st;
  }

  /**
   * The client shut down its sending side: it has said everything (PROTOCOL.md §2). Its
   * subscriptions end; requests still running are answered, and once none is left and every
   * answer is written the connection closes.
   */
  #endedNow(): void {
    this.#ended = true;
    if (this.#subs.size > 0) {
      const subs = [...this.#subs.values()];
      this.#subs.clear();
      this.#server._subscriptionsEnded(this, subs);
    }
    this.#closeIfDone();
  }

  #closeIfDone(): void {
    if (!this.#ended || this.#closed || this.#inflight.size > 0) return;
    this.channel.flushed().then(() => {
      if (this.#inflight.size === 0) this.channel.close();
    });
  }

  #closedNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    const reason = new PortError(ErrorCode.CANCELLED, "The client disconnected");
    for (const entry of this.#inflight.values()) {
      entry.done = true;
      entry.controller?.abort(reason);
    }
    this.#inflight.clear();
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    this.#server._closed(this, subs);
  }
}

/** The RequestContext of one request; its AbortController is created on first use. */
class Context implements RequestContext {
  readonly #entry: InFlight;
  constructor(
    readonly id: string | number | null,
    readonly cmd: string,
    readonly fds: readonly FdHandle[],
    readonly caps: readonly string[],
    readonly session: Session,
    entry: InFlight,
  ) {
    this.#entry = entry;
  }

  get signal(): AbortSignal {
    const c = (this.#entry.controller ??= new AbortController());
    if (this.session.closed && !c.signal.aborted) {
      c.abort(new PortError(ErrorCode.CANCELLED, "The client disconnected"));
    }
    return c.signal;
  }
}

function matches(filters: [string, unknown][], payload: Record<string, unknown>): boolean {
  for (const [k, want] of filters) {
    const have = payload[k];
    if (Array.isArray(want)) {
      if (!want.includes(have)) return false;
    } else if (have !== want) return false;
  }
  return true;
}

/**
 * Serves one service on any number of connections. Give it connections with `accept()` (the
 * platform adapters do this for a listening socket).
 */
export class PortServer {
  readonly descriptor: ServerDescriptor;
  readonly options: ServerOptions;
  readonly maxQueuedEvents: number;
  readonly maxInFlight: number;
  readonly #handlers: Record<string, Handler>;
  readonly #sessions = new Set<Session>();
  /** Event name → sessions with at least one subscription to it → how many such subscriptions. */
  readonly #subscribers = new Map<string, Map<Session, number>>();
  #count = 0;
  #closing = false;
  #idle: (() => void)[] = [];

  /**
   * @param descriptor The generated server descriptor.
   * @param handlers One function per command.
   * @param options Limits and policies.
   */
  constructor(descriptor: ServerDescriptor, handlers: Record<string, Handler>, options: ServerOptions = {}) {
    for (const name of Object.keys(descriptor.commands)) {
      if (typeof handlers[name] !== "function") {
        throw new TypeError(`Cannot serve "${descriptor.name}": no handler for command "${name}"`);
      }
    }
    this.descriptor = descriptor;
    this.#handlers = handlers;
    this.options = options;
    this.maxQueuedEvents = options.maxQueuedEvents ?? 1024;
    this.maxInFlight = options.maxInFlight ?? 256;
  }

  /** Open connections. */
  get sessions(): ReadonlySet<Session> {
    return this.#sessions;
  }

  /**
   * Serves a new connection (the server owns it from now on).
   *
   * @param connection An accepted connection.
   * @returns Its session, or `undefined` if it was refused (connection limit, shutting down).
   */
  accept(connection: Connection): Session | undefined {
    const limit = this.options.maxConnections ?? 4096;
    if (this.#closing || this.#sessions.size >= limit) {
      const why = this.#closing ? "The server is shutting down" : `Too many connections (limit ${limit})`;
      const bytes = new TextEncoder().encode(
        JSON.stringify({ ok: false, id: null, error: { code: ErrorCode.BUSY, message: why } }) + "\n",
      );
      connection.start({ data: (_c, fds) => fds?.forEach((f) => f.close()), closed: () => {} });
      const done = connection.write(bytes);
      if (done) done.finally(() => connection.close()).catch(() => {});
      else connection.close();
      return undefined;
    }
    const session = new Session(this, connection, ++this.#count);
    this.#sessions.add(session);
    return session;
  }

  /**
   * Sends an event to every subscription that asked for it and whose filters match. Events to a
   * connection whose queue is full are dropped and counted (schemas/PROTOCOL.md §8).
   *
   * @param event Event name (declared in the schema).
   * @param payload Payload fields (FD handles inside are passed by SCM_RIGHTS; the caller keeps them).
   * @returns How many subscriptions it was queued for.
   */
  emit(event: string, payload: Record<string, unknown> = {}): number {
    const sessions = this.#subscribers.get(event);
    if (!sessions || sessions.size === 0) return 0;
    const check = this.descriptor.validateEvent?.[event];
    if (check && this.options.validateResults) {
      const issue = check(payload);
      if (issue) throw new TypeError(`Event "${event}" payload is invalid: ${issue.path || "/"}: ${issue.message}`);
    }
    let body: Record<string, unknown> = payload;
    let fds: number[] | undefined;
    if (this.descriptor.events[event]?.fds) {
      const encoded = encodeFds(payload);
      body = encoded.value as Record<string, unknown>;
      if (encoded.fds.length > 0) {
        fds = encoded.fds;
        body = { ...body, fds: fds.length };
      }
    }
    const json = JSON.stringify(body);
    const tail = json.length > 2 ? "," + json.slice(1) : "}";
    // Serialised once per emit, not once per delivery: `{"event":<name>,"sub":` + sub + tail.
    const head = `{"event":${JSON.stringify(event)},"sub":`;
    let n = 0;
    for (const s of sessions.keys()) {
      const before = s.channel.eventsQueued;
      s._deliver(event, payload, head, tail, fds);
      n += s.channel.eventsQueued - before;
    }
    return n;
  }

  /** Whether anybody is subscribed to `event` (to skip producing unused events). */
  hasSubscribers(event: string): boolean {
    return (this.#subscribers.get(event)?.size ?? 0) > 0;
  }

  /**
   * Stops accepting requests, waits for in-flight requests to be answered (up to `timeoutMs`),
   * then closes every connection.
   */
  async close(timeoutMs = 2000): Promise<void> {
    this.#closing = true;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && [...this.#sessions].some((s) => s.inFlight > 0)) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all([...this.#sessions].map((s) => s.channel.flushed()));
    for (const s of [...this.#sessions]) s.close();
  }

  /** Resolves when no connection is open. */
  idle(): Promise<void> {
    if (this.#sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** @internal A session's subscriptions ended while it stays open (it half-closed). */
  _subscriptionsEnded(session: Session, subs: SubState[]): void {
    for (const st of subs) this.#countSubs(session, st.events, -1);
  }

  /** @internal */
  _closed(session: Session, subs: SubState[]): void {
    this.#sessions.delete(session);
    this._subscriptionsEnded(session, subs);
    if (this.#sessions.size === 0 && this.#idle.length > 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const r of idle) r();
    }
  }

  #countSubs(session: Session, events: Iterable<string>, delta: number): void {
    for (const e of events) {
      let sessions = this.#subscribers.get(e);
      if (!sessions) this.#subscribers.set(e, sessions = new Map());
      const n = (sessions.get(session) ?? 0) + delta;
      if (n > 0) sessions.set(session, n);
      else sessions.delete(session);
    }
  }

  /** @internal */
  _discardResult(cmd: string, result: unknown): void {
    // Handles inside a result nobody will receive belong to nobody now.
    if (this.descriptor.commands[cmd]?.fds) closeFdHandles(result);
  }

  /** @internal */
  _respond(session: Session, id: string | number | null, cmd: string, result: unknown): void {
    if (result === undefined || result === null) result = {};
    if (this.options.validateResults) {
      const issue = this.descriptor.validateResult?.[cmd]?.(result);
      if (issue) {
        this.options.onError?.(new Error(issue.message), `result of "${cmd}"`);
        session.channel.send({
          ok: false,
          id,
          error: { code: ErrorCode.INTERNAL, message: `Result of "${cmd}" is invalid: ${issue.path || "/"}: ${issue.message}` },
        });
        return;
      }
    }
    let fds: number[] | undefined;
    const msg: Record<string, unknown> = { ok: true, id, result };
    if (this.descriptor.commands[cmd]?.fds) {
      let encoded: ReturnType<typeof encodeFds>;
      try {
        encoded = encodeFds(result);
      } catch (error) {
        this._discardResult(cmd, result);
        this.options.onError?.(error, `result of "${cmd}"`);
        session.channel.send({
          ok: false,
          id,
          error: { code: ErrorCode.INTERNAL, message: `Result of "${cmd}" holds an unusable descriptor: ${errorMessage(error)}` },
        });
        return;
      }
      if (encoded.fds.length > 0) {
        msg.result = encoded.value;
        msg.fds = encoded.fds.length;
        fds = encoded.fds;
      }
    }
    try {
      session.channel.send(msg, fds);
    } catch (error) {
      session.channel.send({
        ok: false,
        id,
        error: { code: ErrorCode.TOO_LARGE, message: `Result of "${cmd}" ${errorMessage(error).replace(/^Message/, "message")}` },
      });
    }
    if (fds) {
      // The kernel copies descriptors at sendmsg; the handler's handles are closed once written.
      session.channel.flushed().then(() => this._discardResult(cmd, result));
    }
  }

  /** @internal */
  _dispatch(
    session: Session,
    id: string | number | null,
    cmd: string,
    args: Record<string, unknown>,
    caps: readonly string[],
    fds: readonly FdHandle[],
  ): void {
    if (this.#closing && cmd !== "cancel") {
      return this.#fail(session, id, fds, ErrorCode.BUSY, "The server is shutting down");
    }
    const d = this.descriptor;
    const handler = this.#handlers[cmd];
    const command = d.commands[cmd];
    if (handler === undefined || command === undefined) {
      switch (cmd) {
        case "ping":
          closeAll(fds);
          session.channel.send({
            ok: true,
            id,
            result: { name: d.name, version: d.version, protocol: PROTOCOL_VERSION },
            name: d.name,
            version: d.version,
            protocol: PROTOCOL_VERSION,
          });
          return;
        case "describe":
          closeAll(fds);
          session.channel.send({ ok: true, id, result: { ...(d.schema as object), limits: this.limits() } });
          return;
        case "subscribe":
          closeAll(fds);
          this.#subscribe(session, id, args, caps);
          return;
        case "unsubscribe": {
          closeAll(fds);
          const sub = args.sub;
          if (typeof sub !== "number") return this.#fail(session, id, fds, ErrorCode.BAD_ARG, `args/sub: must be the integer from subscribe`, { path: "/sub" });
          const st = session._unsubscribe(sub);
          if (!st) return this.#fail(session, id, fds, ErrorCode.NOT_FOUND, `No subscription ${sub} on this connection`);
          this.#countSubs(session, st.events, -1);
          session.channel.send({ ok: true, id, result: {} });
          return;
        }
        case "cancel": {
          closeAll(fds);
          const target = args.id;
          if (typeof target !== "string" && typeof target !== "number") {
            return this.#fail(session, id, fds, ErrorCode.BAD_ARG, `args/id: must be the id of a request in flight`, { path: "/id" });
          }
          const cancelled = session._cancel(target);
          if (id !== null) session.channel.send({ ok: true, id, result: { cancelled } });
          return;
        }
      }
      const near = suggest(cmd, [...Object.keys(d.commands), "ping", "describe", "subscribe", "unsubscribe", "cancel"]);
      return this.#fail(session, id, fds, 
        ErrorCode.BAD_CMD,
        `Unknown command "${cmd}" for ${d.name}${near ? `; did you mean "${near}"?` : ""}`,
      );
    }
    if (command.caps && command.caps.length > 0 && this.options.capabilities) {
      const denied = this.#denied(command.caps, caps);
      if (denied) return this.#fail(session, id, fds, ErrorCode.DENIED, `"${cmd}" needs capability "${denied}"`);
    }
    if (fds.length > 0 && session.heldFds + session.channel.queuedFds + fds.length > (this.options.maxFdsPerConnection ?? 64)) {
      return this.#fail(session, id, fds, ErrorCode.BAD_FD, `Connection holds too many descriptors (limit ${this.options.maxFdsPerConnection ?? 64})`);
    }
    const validate = d.validateArgs[cmd];
    if (validate) {
      const issue = validate(args);
      if (issue) {
        return this.#fail(session, id, fds, ErrorCode.BAD_ARG, `args${issue.path}: ${issue.message}`, { path: issue.path || "/" });
      }
    }
    if (fds.length > 0 || command.fds) {
      const decoded = decodeFds(args, fds);
      if (decoded.error) return this.#fail(session, id, fds, ErrorCode.BAD_FD, decoded.error);
    }
    session._run(id, cmd, args, caps, fds, handler);
  }

  #fail(
    session: Session,
    id: string | number | null,
    fds: readonly FdHandle[],
    code: string,
    message: string,
    data?: unknown,
  ): void {
    closeAll(fds);
    session.channel.send({ ok: false, id, error: data === undefined ? { code, message } : { code, message, data } });
  }

  #denied(required: readonly string[], tokens: readonly string[]): string | undefined {
    const table = this.options.capabilities!;
    for (const cap of required) {
      let ok = false;
      for (const t of tokens) {
        const grants = table[t];
        if (grants && (grants.includes(cap) || grants.includes("*"))) {
          ok = true;
          break;
        }
      }
      if (!ok) return cap;
    }
    return undefined;
  }

  #subscribe(
    session: Session,
    id: string | number | null,
    args: Record<string, unknown>,
    caps: readonly string[],
  ): void {
    const d = this.descriptor;
    const fail = (message: string, path: string) =>
      session.channel.send({ ok: false, id, error: { code: ErrorCode.BAD_ARG, message, data: { path } } });
    const events = args.events;
    if (!Array.isArray(events) || events.length === 0 || !events.every((e) => typeof e === "string")) {
      return fail(`args/events: must be a non-empty array of event names`, "/events");
    }
    const known = Object.keys(d.events);
    for (const e of events as string[]) {
      if (!(e in d.events)) {
        const near = suggest(e, known);
        return fail(
          `args/events: unknown event "${e}"${near ? ` (did you mean "${near}"?)` : ""}; ${d.name} has ${known.join(", ") || "no events"}`,
          "/events",
        );
      }
    }
    if (this.options.capabilities) {
      for (const e of events as string[]) {
        const required = d.events[e].caps;
        const denied = required && required.length > 0 ? this.#denied(required, caps) : undefined;
        if (denied) {
          return this.#fail(session, id, EMPTY, ErrorCode.DENIED, `Subscribing to "${e}" needs capability "${denied}"`);
        }
      }
    }
    let filters: [string, unknown][] | undefined;
    for (const key in args) {
      if (key === "events") continue;
      for (const e of events as string[]) {
        if (!(d.events[e].filters ?? []).includes(key)) {
          return fail(`args/${key}: "${e}" cannot be filtered by "${key}"`, "/" + key);
        }
      }
      (filters ??= []).push([key, args[key]]);
    }
    const sub = session._subscribe(events as string[], filters);
    this.#countSubs(session, new Set(events as string[]), 1);
    session.channel.send({ ok: true, id, result: { sub, events } });
  }

  /** The limits in force (also part of `describe`). */
  limits(): Record<string, number | null> {
    const o = this.options;
    return {
      maxMessage: o.maxMessage ?? 65536,
      maxFdsPerMessage: o.maxFdsPerMessage ?? 16,
      maxFdsPerConnection: o.maxFdsPerConnection ?? 64,
      maxInFlight: this.maxInFlight,
      maxQueuedEvents: this.maxQueuedEvents,
      maxConnections: o.maxConnections ?? 4096,
      rateLimit: o.rateLimit ?? null,
    };
  }
}
