/**
 * Opt-in client resilience: a {@linkcode ReconnectingClient} wraps a `connect()` factory, reconnects
 * with exponential backoff when the connection closes, and re-issues active subscriptions so their
 * async iterators keep yielding across reconnects. Platform-free: it only needs the factory.
 *
 * What it does not do:
 * - **Events emitted while disconnected are lost.** A resubscribed iterator simply continues with
 *   the events of the new connection; no marker is inserted and nothing is replayed.
 * - **Requests in flight when the connection drops are not retried** (commands are not known to
 *   be idempotent): they reject with {@linkcode ClosedError}, as on a plain client.
 * - Requests issued while disconnected wait for the next connection (bounded by `maxWait` and
 *   `maxQueued`) or, with `whileDisconnected: "fail"`, reject at once with `ClosedError`.
 *
 * @example Reconnect to copperd and keep an irq subscription alive
 * ```ts ignore
 * import { connect } from "../runtime.ts";
 * const rc = await ReconnectingClient.connect(() => connect("/run/copperline/copperd.sock"));
 * for await (const ev of rc.subscribe(["irq"])) console.log(ev);
 * ```
 *
 * @module
 */

import type { CallOptions, PortClient } from "./client.ts";
import type { DroppedEvent, PingResult } from "./descriptor.ts";
import { ClosedError, PortError } from "./errors.ts";
import type { Subscription } from "./subscription.ts";

/** Options of {@linkcode ReconnectingClient}. */
export interface ReconnectOptions {
  /** First retry delay in ms. Default 50. */
  initialDelay?: number;
  /** Longest delay between attempts in ms. Default 5,000. */
  maxDelay?: number;
  /** Growth factor of the delay per failed attempt. Default 2. */
  factor?: number;
  /** Random spread of each delay, as a fraction (0.2 = ±20%). Default 0.2. */
  jitter?: number;
  /** Consecutive failed attempts before giving up (then everything fails with ClosedError). Default unlimited. */
  maxAttempts?: number;
  /** A connection that lasted at least this long (ms) resets the backoff. Default 1,000. */
  stableAfter?: number;
  /** Stops reconnecting and closes the client when aborted. */
  signal?: AbortSignal;
  /** What requests do while disconnected: wait for the next connection (default) or fail at once. */
  whileDisconnected?: "wait" | "fail";
  /** Longest wait (ms) for a connection before a request fails with ClosedError. Default 10,000. */
  maxWait?: number;
  /** Most requests (and resubscriptions) waiting for a connection; more fail with ClosedError. Default 1,024. */
  maxQueued?: number;
  /** Called after every successful (re)connection; `attempt` counts reconnections (0 = first). */
  onConnect?: (client: PortClient, attempt: number) => void;
  /** Called when a connection is lost. */
  onDisconnect?: (error: Error | undefined) => void;
  /** Random source in [0, 1) for the jitter (tests). Default `Math.random`. */
  random?: () => number;
}

interface Waiter {
  resolve: (client: PortClient) => void;
  reject: (error: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * The delay before retry number `attempt` (1-based): `initialDelay · factor^(attempt-1)`, capped at
 * `maxDelay`, spread by ±`jitter`.
 */
export function backoffDelay(attempt: number, options: ReconnectOptions = {}): number {
  const initial = options.initialDelay ?? 50;
  const max = options.maxDelay ?? 5000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0.2;
  const base = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt - 1)));
  const spread = 1 - jitter + 2 * jitter * (options.random ?? Math.random)();
  return Math.max(0, Math.min(max, base * spread));
}

/**
 * A client that survives server restarts. See the module documentation for the guarantees.
 */
export class ReconnectingClient {
  readonly #connect: () => Promise<PortClient>;
  readonly #options: ReconnectOptions;
  #client: PortClient | undefined;
  #waiters = new Set<Waiter>();
  #stopped = false;
  #userClosed = false;
  #failure: Error | undefined;
  #connections = 0;
  #wake: (() => void) | undefined;
  #closedResolve!: () => void;
  /** Resolves once the client is closed for good (close(), abort, or maxAttempts exhausted). */
  readonly closed: Promise<void>;

  /**
   * Starts connecting in the background. Prefer {@linkcode ReconnectingClient.connect}, which waits
   * for the first connection.
   *
   * @param connect Opens a new connection (called again after each loss).
   * @param options Backoff and queueing policy.
   */
  constructor(connect: () => Promise<PortClient>, options: ReconnectOptions = {}) {
    this.#connect = connect;
    this.#options = options;
    this.closed = new Promise((resolve) => (this.#closedResolve = resolve));
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) {
        this.#stop(new ClosedError("Reconnection was aborted", signal.reason));
        return;
      }
      signal.addEventListener(
        "abort",
        () => this.#stop(new ClosedError("Reconnection was aborted", signal.reason)),
        {
          once: true,
        },
      );
    }
    this.#loop();
  }

  /**
   * Creates a reconnecting client and waits for its first connection (retrying with backoff).
   * Rejects if it gives up (maxAttempts, abort) or `maxWait` passes first.
   */
  static async connect(
    connect: () => Promise<PortClient>,
    options: ReconnectOptions = {},
  ): Promise<ReconnectingClient> {
    const rc = new ReconnectingClient(connect, options);
    try {
      await rc.#waitClient(options.maxWait ?? 10_000, true);
    } catch (error) {
      await rc.close();
      throw error;
    }
    return rc;
  }

  /** The current connection, if connected. */
  get client(): PortClient | undefined {
    return this.#client;
  }

  /** Whether a connection is up right now. */
  get connected(): boolean {
    return this.#client !== undefined && !this.#client.isClosed;
  }

  /** How many times a connection was established (1 after the first connect). */
  get connections(): number {
    return this.#connections;
  }

  /** Whether the client was closed for good. */
  get isClosed(): boolean {
    return this.#stopped;
  }

  /**
   * Sends a command on the current connection, waiting for one if disconnected (see options).
   * A request in flight when the connection drops rejects with ClosedError (not retried).
   */
  async request<R = unknown>(cmd: string, args?: unknown, options?: CallOptions): Promise<R> {
    const client = await this.#waitClient(
      this.#options.maxWait ?? 10_000,
      false,
      options?.signal,
      cmd,
    );
    return await client.request<R>(cmd, args, options);
  }

  /** `ping` on the current connection (protocol check included). */
  async ping(options?: CallOptions): Promise<PingResult> {
    const client = await this.#waitClient(
      this.#options.maxWait ?? 10_000,
      false,
      options?.signal,
      "ping",
    );
    return await client.ping(options);
  }

  /**
   * Subscribes; the iterator survives reconnects (it resubscribes on every new connection with the
   * same events and filters). Events emitted while disconnected are lost. The iterator ends when
   * you leave the loop / call `close()`, when the client closes for good (it then rejects with
   * ClosedError), or when the server refuses the subscription (it rejects with that error).
   */
  subscribe<T = Record<string, unknown>>(
    events: readonly string[],
    filters?: Record<string, unknown>,
    options?: CallOptions,
  ): ResilientSubscription<T | DroppedEvent> {
    return new ResilientSubscription<T | DroppedEvent>(this, events, filters, options);
  }

  /** Stops reconnecting, closes the connection; waiting requests reject with ClosedError. */
  async close(): Promise<void> {
    if (!this.#stopped) this.#userClosed = true;
    this.#stop(new ClosedError("The reconnecting client was closed"));
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.close();
    await this.closed;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal Resolves with a live connection (see options), or rejects with ClosedError. */
  #waitClient(
    maxWait: number,
    first: boolean,
    signal?: AbortSignal,
    what = "request",
  ): Promise<PortClient> {
    if (this.#stopped) {
      return Promise.reject(
        this.#failure ?? new ClosedError(`Cannot send "${what}": the client is closed`),
      );
    }
    const c = this.#client;
    if (c !== undefined && !c.isClosed) return Promise.resolve(c);
    if (!first && (this.#options.whileDisconnected ?? "wait") === "fail") {
      return Promise.reject(new ClosedError(`Cannot send "${what}": disconnected (reconnecting)`));
    }
    if (this.#waiters.size >= (this.#options.maxQueued ?? 1024)) {
      return Promise.reject(
        new ClosedError(`Cannot send "${what}": too many requests waiting for a connection`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<PortClient>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      const done = () => {
        this.#waiters.delete(w);
        if (w.timer !== undefined) clearTimeout(w.timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      w.resolve = (client) => {
        done();
        resolve(client);
      };
      w.reject = (error) => {
        done();
        reject(error);
      };
      if (maxWait > 0 && Number.isFinite(maxWait)) {
        w.timer = setTimeout(
          () =>
            w.reject(
              new ClosedError(
                `Cannot send "${what}": no connection within ${maxWait} ms`,
                this.#failure,
              ),
            ),
          maxWait,
        );
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.add(w);
    });
  }

  /** @internal Whether close() (rather than abort or giving up) ended the client. */
  get _userClosed(): boolean {
    return this.#userClosed;
  }

  /** @internal Used by subscriptions: waits for a connection without the request queue policy. */
  _nextClient(after: PortClient | undefined): Promise<PortClient> {
    const c = this.#client;
    if (c !== undefined && c !== after && !c.isClosed) return Promise.resolve(c);
    return this.#waitClient(Infinity, true, undefined, "subscribe");
  }

  #stop(error: Error): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#failure = error;
    this.#wake?.();
    const c = this.#client;
    if (c && !c.isClosed) c.close().catch(() => {});
    for (const w of [...this.#waiters]) w.reject(error);
    this.#closedResolve();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(t);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  async #loop(): Promise<void> {
    const o = this.#options;
    const stableAfter = o.stableAfter ?? 1000;
    let failures = 0;
    let lastError: unknown;
    while (!this.#stopped) {
      let client: PortClient;
      try {
        client = await this.#connect();
      } catch (error) {
        lastError = error;
        failures++;
        if (o.maxAttempts !== undefined && failures >= o.maxAttempts) {
          this.#stop(new ClosedError(`Gave up reconnecting after ${failures} attempts`, lastError));
          return;
        }
        await this.#sleep(backoffDelay(failures, o));
        continue;
      }
      if (this.#stopped) {
        await client.close().catch(() => {});
        return;
      }
      const attempt = this.#connections++;
      this.#client = client;
      const since = Date.now();
      try {
        o.onConnect?.(client, attempt);
      } catch { /* the callback's problem */ }
      for (const w of [...this.#waiters]) w.resolve(client);
      await client.closed;
      if (this.#client === client) this.#client = undefined;
      if (this.#stopped) return;
      try {
        o.onDisconnect?.(undefined);
      } catch { /* the callback's problem */ }
      // A connection that dropped right away (refused with BUSY, crashing server) keeps backing off.
      failures = Date.now() - since >= stableAfter ? 1 : failures + 1;
      await this.#sleep(backoffDelay(failures, o));
    }
  }
}

const DONE: IteratorResult<never> = Object.freeze({
  value: undefined,
  done: true,
}) as IteratorResult<never>;

/**
 * A subscription of a {@linkcode ReconnectingClient}: an async iterator that resubscribes after
 * every reconnect. Events emitted while disconnected are lost (no marker is inserted).
 */
export class ResilientSubscription<T> implements AsyncIterableIterator<T> {
  readonly #owner: ReconnectingClient;
  /** The event names subscribed to. */
  readonly events: readonly string[];
  readonly #filters: Record<string, unknown> | undefined;
  readonly #options: CallOptions | undefined;
  #inner: Subscription<unknown> | undefined;
  #innerClient: PortClient | undefined;
  #closed = false;
  #resubscribes = 0;
  #pendingNext: Promise<IteratorResult<T>> | undefined;

  /** @internal Created by {@linkcode ReconnectingClient.subscribe}. */
  constructor(
    owner: ReconnectingClient,
    events: readonly string[],
    filters: Record<string, unknown> | undefined,
    options: CallOptions | undefined,
  ) {
    this.#owner = owner;
    this.events = events;
    this.#filters = filters;
    this.#options = options;
  }

  /** How many times the subscription was (re)established. */
  get subscriptions(): number {
    return this.#resubscribes;
  }

  /**
   * Resolves once subscribed on the current (or next) connection, with the server's sub id.
   * Starts the subscription if `next()` was not called yet.
   */
  async ready(): Promise<number> {
    const inner = await this.#current();
    return inner.ready;
  }

  async #current(): Promise<Subscription<unknown>> {
    for (;;) {
      if (this.#closed) throw new ClosedError("The subscription was closed");
      const inner = this.#inner;
      if (inner && !inner.ended && this.#innerClient && !this.#innerClient.isClosed) return inner;
      const client = await this.#owner._nextClient(inner ? this.#innerClient : undefined);
      if (this.#closed) throw new ClosedError("The subscription was closed");
      if (this.#inner !== inner) continue; // someone else resubscribed meanwhile
      const next = client.subscribe(
        this.events,
        this.#filters,
        this.#options,
      ) as unknown as Subscription<unknown>;
      this.#inner = next;
      this.#innerClient = client;
      try {
        await next.ready;
        this.#resubscribes++;
      } catch (error) {
        if (client.isClosed || error instanceof ClosedError) continue; // lost again: wait for the next one
        throw error; // the server refused it (BAD_ARG, DENIED...)
      }
      return next;
    }
  }

  /** Next event (from whichever connection is current). */
  next(): Promise<IteratorResult<T>> {
    // Serialise concurrent next() calls so each inner read has one consumer.
    const run = async (): Promise<IteratorResult<T>> => {
      for (;;) {
        if (this.#closed) return DONE;
        let inner: Subscription<unknown>;
        try {
          inner = await this.#current();
        } catch (error) {
          if (this.#closed || this.#owner._userClosed) return DONE;
          this.#closed = true;
          throw error;
        }
        const client = this.#innerClient;
        try {
          const r = await inner.next();
          if (!r.done) return r as IteratorResult<T>;
        } catch (error) {
          if (!(error instanceof ClosedError) && !(client?.isClosed)) {
            this.#closed = true;
            throw error;
          }
        }
        // Ended: because the connection closed (resubscribe) or because we were closed.
        if (this.#closed) return DONE;
        if (client && !client.isClosed && !inner.ended) continue;
        if (client && !client.isClosed) {
          // Ended with the connection still up: the server or the caller ended it.
          this.#closed = true;
          return DONE;
        }
      }
    };
    const p = (this.#pendingNext ?? Promise.resolve()).then(run, run);
    this.#pendingNext = p.catch(() => DONE as IteratorResult<T>);
    return p;
  }

  /** Ends the subscription (unsubscribes on the current connection). */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return DONE;
  }

  /** Ends the subscription. */
  async close(): Promise<void> {
    if (this.#closed && !this.#inner) return;
    this.#closed = true;
    const inner = this.#inner;
    this.#inner = undefined;
    if (inner) {
      try {
        await inner.close();
      } catch (error) {
        if (!(error instanceof PortError)) throw error;
      }
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
