/**
 * The protocol client: numbered requests, many in flight matched by id, deadlines and
 * `AbortSignal`s, typed errors, subscriptions as async iterators, FD passing.
 *
 * @module
 */

import { Channel, type ChannelOptions } from "./channel.ts";
import {
  type DroppedEvent,
  type PingResult,
  PROTOCOL_VERSION,
  type ServiceDescriptor,
  type SubscribeResult,
} from "./descriptor.ts";
import { ClosedError, errorMessage, PortError, ProtocolError, RemoteError, TimeoutError } from "./errors.ts";
import { decodeFds, encodeFds } from "./fd_refs.ts";
import { Subscription, type SubscriptionOptions } from "./subscription.ts";
import type { Connection, FdHandle } from "./transport.ts";

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call: it rejects with the signal's reason and a `cancel` is sent. */
  signal?: AbortSignal;
  /** Deadline in milliseconds (overrides the client default; 0 disables). */
  timeout?: number;
  /** Capability token(s) for this call (overrides the client default). */
  caps?: string | string[];
}

/** Client options. */
export interface ClientOptions extends ChannelOptions {
  /** Default deadline per call in ms. Default 10,000; 0 disables. */
  timeout?: number;
  /** Default capability token(s) sent with every request. */
  caps?: string | string[];
  /** Refuse (instead of warn about) a server whose `ping` reports another protocol. */
  strictProtocol?: boolean;
  /** Called with warnings (protocol mismatch, unexpected frames). Default `console.warn`. */
  onWarning?: (message: string) => void;
  /** Local buffer per subscription. */
  subscription?: SubscriptionOptions;
}

interface Pending {
  cmd: string;
  /** Resolves with the decoded result, or with `{result, fds}` when `raw`. */
  resolve: (value: unknown) => void;
  raw: boolean;
  reject: (error: unknown) => void;
  deadline: number;
  /** Runs synchronously when the success response is parsed, before later lines of its chunk. */
  sync?: (result: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const SWEEP_MS = 25;

/**
 * A connection to one service.
 *
 * @example Call a command on a connected client
 * ```ts ignore
 * const result = await client.request("load", { program: { version: 1, program: [] } });
 * ```
 */
export class PortClient {
  readonly #channel: Channel;
  readonly #pending = new Map<number, Pending>();
  readonly #subs = new Map<number, Subscription<unknown>>();
  readonly #timeout: number;
  readonly #caps: string | string[] | undefined;
  readonly #warn: (message: string) => void;
  readonly #subOptions: SubscriptionOptions | undefined;
  readonly #strict: boolean;
  #nextId = 1;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #clock = 0;
  #closeError: Error | undefined;
  #closed = false;
  #closedResolve!: () => void;
  /** Resolves when the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;
  /** The service's descriptor, when the client was created for a known service. */
  readonly service: ServiceDescriptor | undefined;

  /**
   * @param connection A transport connection (the client owns it).
   * @param options Client options.
   * @param service The service descriptor, if known.
   */
  constructor(connection: Connection, options: ClientOptions = {}, service?: ServiceDescriptor) {
    this.#timeout = options.timeout ?? 10_000;
    this.#caps = options.caps;
    this.#warn = options.onWarning ?? ((m) => console.warn(`copperline-ports: ${m}`));
    this.#subOptions = options.subscription;
    this.#strict = options.strictProtocol ?? false;
    this.service = service;
    this.closed = new Promise((resolve) => (this.#closedResolve = resolve));
    this.#channel = new Channel(connection, {
      message: (msg, fds, fdError) => this.#message(msg, fds, fdError),
      bad: (code, message) => this.#warn(`Ignored a bad frame from the server (${code}): ${message}`),
      closed: (error) => this.#onClosed(error),
    }, { batchJson: true, ...options });
  }

  /** Whether the connection is closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Requests waiting for their response. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Sends a command and resolves with its result. Rejects with {@linkcode RemoteError} on an error
   * response, {@linkcode TimeoutError}, {@linkcode ClosedError}, or the abort reason.
   *
   * @param cmd Command name.
   * @param args Arguments (FD handles anywhere inside are passed by SCM_RIGHTS).
   * @param options Deadline, signal, caps.
   * @returns The result.
   */
  request<R = unknown>(cmd: string, args?: unknown, options?: CallOptions): Promise<R> {
    return this.#send(cmd, args, options, undefined, false) as Promise<R>;
  }

  /**
   * Like `request`, without decoding `{fd_index}` references: resolves with the raw result and the
   * descriptors that came with the response (owned by the caller).
   */
  requestRaw(
    cmd: string,
    args?: unknown,
    options?: CallOptions,
  ): Promise<{ result: unknown; fds: FdHandle[] | undefined }> {
    return this.#send(cmd, args, options, undefined, true) as Promise<{ result: unknown; fds: FdHandle[] | undefined }>;
  }

  #send(
    cmd: string,
    args: unknown,
    options: CallOptions | undefined,
    sync: ((result: unknown) => void) | undefined,
    raw: boolean,
  ): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new ClosedError(`Cannot send "${cmd}": the connection is closed`, this.#closeError));
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.#nextId++;
    const msg: Record<string, unknown> = { id, cmd };
    let fds: number[] | undefined;
    if (args !== undefined) {
      if (this.service?.commands[cmd]?.fds !== false && args !== null && typeof args === "object") {
        let encoded: ReturnType<typeof encodeFds>;
        try {
          encoded = encodeFds(args);
        } catch (error) {
          // A closed FdHandle in the arguments: fail this call, like any other argument error.
          return Promise.reject(error);
        }
        msg.args = encoded.value;
        if (encoded.fds.length > 0) {
          fds = encoded.fds;
          msg.fds = fds.length;
        }
      } else {
        msg.args = args;
      }
    }
    const caps = options?.caps ?? this.#caps;
    if (caps !== undefined) msg.caps = caps;
    try {
      this.#channel.send(msg, fds);
    } catch (error) {
      return Promise.reject(new PortError("TOO_LARGE", `Cannot send "${cmd}": ${errorMessage(error)}`));
    }
    const timeout = options?.timeout ?? this.#timeout;
    return new Promise((resolve, reject) => {
      const p: Pending = {
        cmd,
        resolve,
        reject,
        // A coarse clock (refreshed by the sweep) keeps a clock read off the per-call path.
        deadline: timeout > 0 ? (this.#sweep === undefined ? (this.#clock = performance.now()) : this.#clock) + timeout : Infinity,
        sync,
        raw,
      };
      if (signal) {
        p.signal = signal;
        p.onAbort = () => {
          if (this.#pending.delete(id)) {
            this.#cancelRemote(id);
            reject(signal.reason);
          }
        };
        signal.addEventListener("abort", p.onAbort, { once: true });
      }
      this.#pending.set(id, p);
      if (timeout > 0 && this.#sweep === undefined) this.#startSweep();
    });
  }

  /**
   * Subscribes to events. Returns at once; iterate the result. Events of unknown names are
   * delivered untyped. Leaving a `for await` loop unsubscribes.
   *
   * @param events Event names.
   * @param filters Filter fields (schemas/PROTOCOL.md §5).
   * @param options Caps and deadline for the subscribe call.
   */
  subscribe<T = Record<string, unknown>>(
    events: readonly string[],
    filters?: Record<string, unknown>,
    options?: CallOptions,
  ): Subscription<T | DroppedEvent> {
    // The subscription is registered synchronously with the response, because events for it can
    // follow in the same chunk, before any promise callback runs.
    const register = (r: unknown) => {
      const id = (r as SubscribeResult | undefined)?.sub;
      if (typeof id !== "number") return;
      sub._setId(id);
      if (!sub.ended) this.#subs.set(id, sub as Subscription<unknown>);
    };
    const ready = this.#send("subscribe", { ...filters, events: [...events] }, options, register, false)
      .then((result) => {
        const id = (result as SubscribeResult | undefined)?.sub;
        if (typeof id !== "number") throw new ProtocolError("BAD_FRAME", "subscribe answered without a sub id");
        if (sub.ended && !this.#subs.has(id)) {
          // Closed before the server answered: undo on the server.
          this.request("unsubscribe", { sub: id }).catch(() => {});
        }
        return id;
      });
    const sub: Subscription<T | DroppedEvent> = new Subscription<T | DroppedEvent>(this, events, ready, this.#subOptions);
    return sub;
  }

  /** @internal SubscriptionOwner */
  async unsubscribe(sub: Subscription<unknown>): Promise<void> {
    if (!this.#subs.delete(sub.sub)) return;
    if (this.#closed) return;
    await this.request("unsubscribe", { sub: sub.sub });
  }

  /**
   * Calls `ping` and checks the protocol number (warns, or throws with `strictProtocol`).
   */
  async ping(options?: CallOptions): Promise<PingResult> {
    const r = await this.request<PingResult>("ping", undefined, options);
    if (r.protocol !== PROTOCOL_VERSION) {
      const message =
        `Server "${r.name}" speaks ports protocol ${r.protocol}; this client speaks ${PROTOCOL_VERSION}`;
      if (this.#strict) throw new PortError("BAD_FRAME", message);
      this.#warn(message);
    }
    return r;
  }

  /** Calls `describe`: the service schema as the server knows it. */
  describe(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.request("describe", undefined, options);
  }

  /**
   * Closes the connection. In-flight calls reject with {@linkcode ClosedError}; subscriptions end.
   * Resolves once queued output was written (best effort) and the connection closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#channel.flushed();
    this.#channel.close();
    await this.closed;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #cancelRemote(id: number): void {
    if (this.#closed) return;
    try {
      this.#channel.send({ cmd: "cancel", args: { id } });
    } catch { /* cannot happen: tiny message */ }
  }

  #message(msg: Record<string, unknown>, fds: FdHandle[] | undefined, fdError: string | undefined): void {
    const ev = msg.event;
    if (typeof ev === "string") {
      this.#event(ev, msg, fds, fdError);
      return;
    }
    const id = msg.id;
    const p = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (p === undefined) {
      if (fds) for (const fd of fds) fd.close();
      // An answer to a cancelled or timed-out call, or to an id-less cancel: expected, ignore.
      if (id === null || typeof id === "number") return;
      this.#warn(`Ignored a message that is neither a response nor an event: ${JSON.stringify(msg).slice(0, 200)}`);
      return;
    }
    this.#pending.delete(id as number);
    if (p.signal) p.signal.removeEventListener("abort", p.onAbort!);
    if (fdError !== undefined) {
      p.reject(new ProtocolError("BAD_FD", fdError));
      return;
    }
    if (msg.ok === true) {
      const result = msg.result ?? {};
      if (p.sync) p.sync(result);
      if (p.raw) p.resolve({ result, fds });
      else if (fds && fds.length > 0) {
        const decoded = decodeFds(result, fds);
        for (const fd of decoded.unused) fd.close();
        if (decoded.error) {
          for (const fd of fds) fd.close();
          p.reject(new ProtocolError("BAD_FD", decoded.error));
        } else p.resolve(decoded.value);
      } else p.resolve(result);
      return;
    }
    if (fds) for (const fd of fds) fd.close();
    const err = msg.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
    if (msg.ok === false && err && typeof err === "object") {
      p.reject(
        new RemoteError(
          p.cmd,
          typeof err.code === "string" ? err.code : "INTERNAL",
          typeof err.message === "string" ? err.message : "No message",
          err.data,
        ),
      );
    } else if (msg.ok === false && typeof err === "string") {
      p.reject(new RemoteError(p.cmd, err, err));
    } else {
      p.reject(new ProtocolError("BAD_FRAME", `Response to "${p.cmd}" has no "ok" boolean`));
    }
  }

  #event(name: string, msg: Record<string, unknown>, fds: FdHandle[] | undefined, fdError: string | undefined): void {
    const sub = typeof msg.sub === "number" ? this.#subs.get(msg.sub) : undefined;
    if (sub === undefined) {
      if (fds) for (const fd of fds) fd.close();
      return;
    }
    if (fdError !== undefined) {
      this.#warn(`Dropped a "${name}" event: ${fdError}`);
      return;
    }
    if (fds && fds.length > 0) {
      const decoded = decodeFds(msg, fds);
      for (const fd of decoded.unused) fd.close();
    }
    sub._push(msg);
  }

  #startSweep(): void {
    this.#sweep = setInterval(() => {
      if (this.#pending.size === 0) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
        return;
      }
      const now = this.#clock = performance.now();
      for (const [id, p] of this.#pending) {
        if (p.deadline <= now) {
          this.#pending.delete(id);
          if (p.signal) p.signal.removeEventListener("abort", p.onAbort!);
          this.#cancelRemote(id);
          p.reject(new TimeoutError(`"${p.cmd}" got no response within its deadline`));
        }
      }
    }, SWEEP_MS);
  }

  #onClosed(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    if (this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) {
      if (p.signal) p.signal.removeEventListener("abort", p.onAbort!);
      p.reject(new ClosedError(`The connection closed before "${p.cmd}" was answered`, error));
    }
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const s of subs) {
      s._fail(error ? new ClosedError("The connection closed during the subscription", error) : undefined);
    }
    this.#closedResolve();
  }
}
