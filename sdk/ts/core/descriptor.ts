/**
 * Service descriptors: the small runtime description a generated client or server carries, and
 * the type maps that make calls typed. Generated code is types plus a descriptor; behaviour lives
 * in the runtime.
 *
 * @module
 */

/** The ports protocol number this runtime speaks. */
export const PROTOCOL_VERSION = 0;

/** Names reserved by the protocol: services cannot declare these commands. */
export const RESERVED_COMMANDS: readonly string[] = [
  "ping",
  "describe",
  "subscribe",
  "unsubscribe",
  "cancel",
];

/** Event names reserved by the protocol. */
export const RESERVED_EVENTS: readonly string[] = ["dropped"];

/** A validation failure: a JSON pointer into the checked value and a message. */
export interface ValidationIssue {
  /** JSON pointer of the offending value, `""` for the value itself. */
  path: string;
  /** What is wrong, e.g. `must be >= 1`. */
  message: string;
}

/** Checks a value; returns `undefined` when valid. */
export type Validator = (value: unknown) => ValidationIssue | undefined;

/** What the runtime needs to know about one command. */
export interface CommandDescriptor {
  /** Capabilities a caller must hold (any token granting all of them). */
  readonly caps?: readonly string[];
  /** Whether args or result may carry file descriptors. */
  readonly fds?: boolean;
  /** Deprecation note, if deprecated. */
  readonly deprecated?: string | boolean;
}

/** What the runtime needs to know about one event. */
export interface EventDescriptor {
  /** Payload fields a subscriber may filter on. */
  readonly filters?: readonly string[];
  /** Capabilities a subscriber must hold (checked at `subscribe`, like a command's). */
  readonly caps?: readonly string[];
  /** Whether the payload may carry file descriptors. */
  readonly fds?: boolean;
}

/** The runtime description of a service. */
export interface ServiceDescriptor {
  readonly name: string;
  readonly version: string;
  readonly protocol: number;
  readonly socket?: { readonly path?: string; readonly env?: string; readonly abstract?: string };
  /** Whether any command or event passes descriptors (then an FD-capable transport is used). */
  readonly fdPassing?: boolean;
  readonly commands: Readonly<Record<string, CommandDescriptor>>;
  readonly events: Readonly<Record<string, EventDescriptor>>;
}

/** Server-side additions: validators and the schema served by `describe`. */
export interface ServerDescriptor extends ServiceDescriptor {
  /** The service schema as JSON (answered by `describe`). */
  readonly schema: unknown;
  /** Argument validators by command. */
  readonly validateArgs: Readonly<Record<string, Validator>>;
  /** Result validators by command (used when the server checks its own results). */
  readonly validateResult?: Readonly<Record<string, Validator>>;
  /** Payload validators by event (used when the server checks what it emits). */
  readonly validateEvent?: Readonly<Record<string, Validator>>;
}

/** Maps command names to their argument and result types. */
export type CommandMap = Record<string, { args: unknown; result: unknown }>;

/** Maps event names to their payload types. */
export type EventMap = Record<string, unknown>;

/** An event as delivered to a subscriber: payload plus `event` and `sub`. */
export type Delivered<E extends EventMap, K extends keyof E & string> =
  | { [P in K]: E[P] & { event: P; sub: number } }[K]
  | DroppedEvent;

/** Sent when the server (or the client's buffer) had to drop events. */
export interface DroppedEvent {
  event: "dropped";
  sub: number;
  /** `backpressure` (server queue full) or `client-buffer` (local buffer full). */
  reason: string;
  /** How many events were dropped since the previous `dropped`. */
  count: number;
}

/** The answer to `ping`. */
export interface PingResult {
  name: string;
  version: string;
  protocol: number;
}

/** The answer to `subscribe`. */
export interface SubscribeResult {
  sub: number;
  events: string[];
}

/**
 * Resolves the socket address of a service: explicit address, then `<SERVICE>_SOCKET`, then
 * `/run/copperline/<service>.sock` (schemas/PROTOCOL.md §1).
 *
 * @param service Service name, e.g. `compat-uae`.
 * @param env Reads an environment variable.
 * @param explicit An address given by the caller.
 * @param socket The schema's socket block, if any.
 * @returns The address to connect to.
 *
 * @example
 * ```ts
 * import { resolveAddress } from "./descriptor.ts";
 * const addr = resolveAddress("compat-uae", (n) => n === "COMPAT_UAE_SOCKET" ? "/tmp/u.sock" : undefined);
 * if (addr !== "/tmp/u.sock") throw new Error(addr);
 * ```
 */
export function resolveAddress(
  service: string,
  env: (name: string) => string | undefined,
  explicit?: string,
  socket?: ServiceDescriptor["socket"],
): string {
  if (explicit) return explicit;
  const envName = socket?.env ?? envVariableFor(service);
  const fromEnv = env(envName);
  if (fromEnv) return fromEnv;
  return socket?.path ?? `/run/copperline/${service}.sock`;
}

/** The environment variable that overrides a service's socket: `compat-uae` → `COMPAT_UAE_SOCKET`. */
export function envVariableFor(service: string): string {
  return service.toUpperCase().replace(/-/g, "_") + "_SOCKET";
}
