/**
 * Subscriptions as async iterators: `for await (const ev of client.subscribe(["vsync"]))`.
 * Leaving the loop (break, return, throw) unsubscribes.
 *
 * @module
 */

import type { DroppedEvent } from "./descriptor.ts";
import { PortError } from "./errors.ts";

/** How a subscription talks back to its client. */
export interface SubscriptionOwner {
  unsubscribe(sub: Subscription<unknown>): Promise<void>;
}

/** Options for a subscription's local buffer. */
export interface SubscriptionOptions {
  /**
   * Most events buffered locally while the consumer is busy (default 65,536). Beyond that events
   * are dropped and a `dropped` event with reason `client-buffer` reports how many.
   */
  maxBuffered?: number;
}

const DONE: IteratorResult<never> = Object.freeze({ value: undefined, done: true }) as IteratorResult<never>;

/**
 * An active (or starting) subscription. Iterate it; `close()` or leaving the loop ends it.
 */
export class Subscription<T> implements AsyncIterableIterator<T> {
  /** Resolves with the server's subscription id once subscribed; rejects if subscribe failed. */
  readonly ready: Promise<number>;
  /** The event names subscribed to. */
  readonly events: readonly string[];
  #sub = 0;
  #owner: SubscriptionOwner;
  #buffer: (T | DroppedEvent)[] = [];
  #head = 0;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #waiterReject: ((e: unknown) => void) | undefined;
  #error: unknown;
  #ended = false;
  #dropped = 0;
  readonly #max: number;

  /**
   * @internal Created by the client.
   */
  constructor(
    owner: SubscriptionOwner,
    events: readonly string[],
    ready: Promise<number>,
    options: SubscriptionOptions = {},
  ) {
    this.#owner = owner;
    this.events = events;
    this.#max = options.maxBuffered ?? 65536;
    this.ready = ready.then((sub) => (this.#sub = sub), (error) => {
      this._fail(error);
      throw error;
    });
    // A failed subscribe surfaces through next(); do not report it as unhandled here.
    this.ready.catch(() => {});
  }

  /** The server's subscription id (0 until `ready` resolved). */
  get sub(): number {
    return this.#sub;
  }

  /** Whether the subscription has ended. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Events waiting in the local buffer. */
  get buffered(): number {
    return this.#buffer.length - this.#head;
  }

  /** @internal The client sets the server's id as soon as the response is parsed. */
  _setId(sub: number): void {
    this.#sub = sub;
  }

  /** @internal The client delivers an event. */
  _push(event: T | DroppedEvent): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      this.#waiterReject = undefined;
      waiter({ value: event as T, done: false });
      return;
    }
    if (this.#buffer.length - this.#head >= this.#max) {
      this.#dropped++;
      return;
    }
    this.#buffer.push(event);
  }

  /** @internal The client ends the subscription with an error (or cleanly with none). */
  _fail(error?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    if (this.#waiter) {
      const resolve = this.#waiter, reject = this.#waiterReject!;
      this.#waiter = this.#waiterReject = undefined;
      if (error !== undefined && this.buffered === 0) reject(error);
      else resolve(DONE);
    }
  }

  /** Next event. */
  next(): Promise<IteratorResult<T>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head];
      this.#buffer[this.#head++] = undefined as unknown as T;
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
      return Promise.resolve({ value: value as T, done: false });
    }
    if (this.#dropped > 0) {
      const count = this.#dropped;
      this.#dropped = 0;
      const ev: DroppedEvent = { event: "dropped", sub: this.#sub, reason: "client-buffer", count };
      return Promise.resolve({ value: ev as T, done: false });
    }
    if (this.#ended) {
      if (this.#error !== undefined) {
        const error = this.#error;
        this.#error = undefined;
        return Promise.reject(error);
      }
      return Promise.resolve(DONE);
    }
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#waiterReject = reject;
    });
  }

  /** Ends the subscription (sends `unsubscribe`); called by `break` in a `for await` loop. */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return DONE;
  }

  /** Ends the subscription. Resolves once the server confirmed (or the connection is gone). */
  async close(): Promise<void> {
    if (this.#ended) return;
    this._fail();
    this.#buffer = [];
    this.#head = 0;
    try {
      await this.ready;
    } catch {
      return;
    }
    try {
      await this.#owner.unsubscribe(this as Subscription<unknown>);
    } catch (error) {
      if (!(error instanceof PortError)) throw error;
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
