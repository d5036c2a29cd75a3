/**
 * Typed bases for generated code: {@linkcode ServiceClient} (one method per command, typed
 * subscriptions) and {@linkcode ServiceServer} (typed `emit`). Platform-free: connecting and
 * listening live in `../runtime.ts`.
 *
 * @module
 */

import { type CallOptions, PortClient } from "./client.ts";
import type {
  CommandMap,
  Delivered,
  EventMap,
  PingResult,
  ServerDescriptor,
  ServiceDescriptor,
} from "./descriptor.ts";
import { type Handler, PortServer, type ServerOptions } from "./server.ts";
import type { Subscription } from "./subscription.ts";
import type { Connection, Listener } from "./transport.ts";

/** Subscribe filters: for each filterable field, a value or a list of accepted values. */
export type Filters = Record<string, unknown>;

/**
 * Base of every generated client.
 *
 * @typeParam C The service's command map.
 * @typeParam E The service's event map.
 */
export class ServiceClient<C extends CommandMap, E extends EventMap> {
  /** The underlying protocol client (untyped calls, raw access). */
  readonly port: PortClient;

  /** @param port A connected protocol client. */
  constructor(port: PortClient) {
    this.port = port;
  }

  /**
   * Calls a command by name with typed arguments and result.
   *
   * @param cmd Command name.
   * @param args Arguments.
   * @param options Deadline, signal, caps.
   */
  call<K extends keyof C & string>(cmd: K, args: C[K]["args"], options?: CallOptions): Promise<C[K]["result"]> {
    return this.port.request(cmd, args, options);
  }

  /**
   * Subscribes to events; iterate the result with `for await`. Leaving the loop unsubscribes.
   *
   * @param events Event names.
   * @param filters Filter fields the schema declares for these events.
   * @param options Caps and deadline for the subscribe call.
   */
  subscribe<K extends keyof E & string>(
    events: readonly K[],
    filters?: Filters,
    options?: CallOptions,
  ): Subscription<Delivered<E, K>> {
    return this.port.subscribe(events, filters, options) as unknown as Subscription<Delivered<E, K>>;
  }

  /** `ping`: name, version and protocol of the service (warns on a protocol mismatch). */
  ping(options?: CallOptions): Promise<PingResult> {
    return this.port.ping(options);
  }

  /** `describe`: the service schema as the server knows it. */
  describe(options?: CallOptions): Promise<Record<string, unknown>> {
    return this.port.describe(options);
  }

  /** Closes the connection. */
  close(): Promise<void> {
    return this.port.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.port.close();
  }
}

/** A generated client class. */
export interface ServiceClientClass<T> {
  new (port: PortClient): T;
  readonly service: ServiceDescriptor;
}

/**
 * Base of every generated server.
 *
 * @typeParam C The service's command map.
 * @typeParam E The service's event map.
 */
export class ServiceServer<C extends CommandMap, E extends EventMap> {
  /** The protocol server (sessions, limits, untyped emit). */
  readonly port: PortServer;
  readonly #listeners: Listener[] = [];
  /** Phantom field keeping `C` in the type. */
  declare readonly _commands?: C;

  /**
   * @param descriptor The generated server descriptor.
   * @param handlers One function per command.
   * @param options Limits and policies.
   */
  constructor(descriptor: ServerDescriptor, handlers: object, options?: ServerOptions) {
    this.port = new PortServer(descriptor, handlers as Record<string, Handler>, options);
  }

  /** The addresses listened on. */
  get addresses(): string[] {
    return this.#listeners.map((l) => l.address);
  }

  /** Serves an accepted connection (for custom transports and tests). */
  accept(connection: Connection): void {
    this.port.accept(connection);
  }

  /** @internal Registers a listener so `close()` stops it. */
  _addListener(listener: Listener): void {
    this.#listeners.push(listener);
  }

  /**
   * Emits a typed event to matching subscribers.
   *
   * @param event Event name.
   * @param payload The payload.
   * @returns How many subscriptions it was queued for.
   */
  emit<K extends keyof E & string>(event: K, payload: E[K]): number {
    return this.port.emit(event, payload as Record<string, unknown>);
  }

  /** Whether anybody listens for `event`. */
  hasSubscribers(event: keyof E & string): boolean {
    return this.port.hasSubscribers(event);
  }

  /** Stops listening, answers in-flight requests, closes every connection. */
  async close(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close()));
    this.#listeners.length = 0;
    await this.port.close();
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
