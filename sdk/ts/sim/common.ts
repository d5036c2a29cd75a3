/**
 * Shared pieces of the simulated services: the sim shape, timers that `stop()` clears, a
 * monotonic clock, a frame clock that only runs fast while somebody needs it, FNV-1a, and lazy
 * access to descriptor contents (`readFd`/`fdSize`/`writeFd`).
 *
 * @module
 */

import { PortError } from "../mod.ts";
import type { FdHandle } from "../core/transport.ts";

/**
 * What every simulated service is: generated-stub handlers, plus `attach` (give it the server so
 * it can emit events) and `stop` (clears every timer the sim started; the sim is dead afterwards).
 */
export interface Sim<H, S> {
  /** One handler per command, typed by the generated `<Svc>Handlers`. */
  readonly handlers: H;
  /** Connects the sim to its server (events go through `server.emit`). */
  attach(server: S): void;
  /** Clears every timer, ends running programs/graphs/VMs. Idempotent. */
  stop(): void;
}

/** Reading (and optionally writing) the bytes behind a received descriptor. */
export interface FdIo {
  /** Reads up to `length` bytes at `offset`; fewer when the file ends first. */
  readFd(handle: FdHandle, length: number, offset?: number): Uint8Array;
  /** The size in bytes of the file behind `handle`. */
  fdSize(handle: FdHandle): number;
  /** Writes `bytes` at `offset` (needed by blitterd to draw into DMABUF surfaces). */
  writeFd?(handle: FdHandle, bytes: Uint8Array, offset?: number): unknown;
}

/** Options every sim accepts. */
export interface SimOptions {
  /** Descriptor I/O. Default: `../deno/ffi/mod.ts` on Deno, `../node/ffi/mod.js` on Node (lazy). */
  fdIo?: FdIo;
  /** Monotonic clock in microseconds. Default: `performance.now()` based. */
  clock?: () => number;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
let defaultFdIo: Promise<FdIo> | undefined;

/** The descriptor I/O to use: `options.fdIo`, else the runtime's FFI helpers, loaded on first use. */
export function fdIoFor(options: SimOptions): Promise<FdIo> {
  if (options.fdIo) return Promise.resolve(options.fdIo);
  defaultFdIo ??= (() => {
    // Computed specifiers: neither type-checker follows the other runtime's module.
    if (g.Deno?.version?.deno) {
      const spec = "../deno/ffi/" + "mod.ts";
      return import(spec) as Promise<FdIo>;
    }
    if (g.process?.versions?.node) {
      const spec = "../node/ffi/" + "mod.js";
      return import(spec) as Promise<FdIo>;
    }
    return Promise.reject(new Error("No descriptor I/O on this runtime; pass options.fdIo"));
  })();
  return defaultFdIo.catch((error) => {
    defaultFdIo = undefined;
    throw new PortError("INTERNAL", `Cannot read descriptors: ${(error as Error).message}`);
  });
}

/** Microseconds on a monotonic clock (integer). */
export function monotonicUsec(): number {
  return Math.floor(performance.now() * 1000);
}

/** FNV-1a 32-bit hash as 8 lowercase hex digits. */
export function fnv1a32(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, "0");
}

/** `NOT_FOUND` with the usual wording. */
export function notFound(what: string, id: number | string): PortError {
  return new PortError("NOT_FOUND", `No ${what} ${id}`);
}

type TimerId = ReturnType<typeof setTimeout>;

/** setTimeout/setInterval that remembers its timers so `clearAll()` can clear them. */
export class Timers {
  readonly #live = new Set<TimerId>();
  #stopped = false;

  /** Whether `clearAll()` was called (no new timers start afterwards). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Number of live timers. */
  get size(): number {
    return this.#live.size;
  }

  /** Runs `fn` once after `ms`. */
  timeout(fn: () => void, ms: number): TimerId | undefined {
    if (this.#stopped) return undefined;
    const id: TimerId = setTimeout(() => {
      this.#live.delete(id);
      fn();
    }, Math.max(0, ms));
    this.#live.add(id);
    return id;
  }

  /** Runs `fn` every `ms`. */
  interval(fn: () => void, ms: number): TimerId | undefined {
    if (this.#stopped) return undefined;
    const id = setInterval(fn, Math.max(1, ms));
    this.#live.add(id);
    return id;
  }

  /** Clears one timer (either kind). */
  clear(id: TimerId | undefined): void {
    if (id === undefined) return;
    clearTimeout(id);
    clearInterval(id);
    this.#live.delete(id);
  }

  /** Clears every timer and refuses new ones. */
  clearAll(): void {
    this.#stopped = true;
    for (const id of this.#live) {
      clearTimeout(id);
      clearInterval(id);
    }
    this.#live.clear();
  }
}

/**
 * A display-style frame clock: frame numbers derive from elapsed time (`frame = elapsed / period`),
 * so they advance whether or not anybody looks. While `active()` is true it wakes at every frame
 * boundary and calls `onFrame` once per new frame; otherwise it only polls `active()` every
 * `idlePollMs`, so an idle sim costs nothing. `kick()` re-checks at once (e.g. after `start`).
 */
export class FrameClock {
  readonly #timers: Timers;
  readonly #clock: () => number;
  readonly #onFrame: (frame: number, usec: number) => void;
  readonly #active: () => boolean;
  readonly #idlePollMs: number;
  #hz: number;
  #epochUsec: number;
  #frameBase = 0;
  #last = -1;
  #timer: TimerId | undefined;
  #running = false;

  constructor(
    timers: Timers,
    clock: () => number,
    hz: number,
    onFrame: (frame: number, usec: number) => void,
    active: () => boolean,
    idlePollMs = 50,
  ) {
    this.#timers = timers;
    this.#clock = clock;
    this.#hz = hz;
    this.#onFrame = onFrame;
    this.#active = active;
    this.#idlePollMs = idlePollMs;
    this.#epochUsec = clock();
  }

  /** Frame period in microseconds. */
  get periodUsec(): number {
    return 1e6 / this.#hz;
  }

  /** Refresh rate in Hz. */
  get hz(): number {
    return this.#hz;
  }

  /** The current frame number (time-derived). */
  frame(): number {
    return this.#frameBase + Math.floor((this.#clock() - this.#epochUsec) / this.periodUsec);
  }

  /** Changes the rate, keeping frame numbers continuous. */
  setHz(hz: number): void {
    const f = this.frame();
    this.#frameBase = f;
    this.#epochUsec = this.#clock() - 0;
    this.#hz = hz;
    this.kick();
  }

  /** Starts the clock (idle polling until `active()`). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#last = this.frame();
    this.#schedule();
  }

  /** Stops the clock's timer. */
  stop(): void {
    this.#running = false;
    this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  /** Re-evaluates `active()` now instead of at the next idle poll. */
  kick(): void {
    if (!this.#running) return;
    this.#timers.clear(this.#timer);
    this.#timer = undefined;
    this.#schedule();
  }

  #schedule(): void {
    if (!this.#running || this.#timers.stopped) return;
    if (!this.#active()) {
      this.#last = this.frame();
      this.#timer = this.#timers.timeout(() => this.#tick(), this.#idlePollMs);
      return;
    }
    const now = this.#clock();
    const elapsed = now - this.#epochUsec;
    const nextBoundary = this.#epochUsec +
      (Math.floor(elapsed / this.periodUsec) + 1) * this.periodUsec;
    this.#timer = this.#timers.timeout(() => this.#tick(), Math.ceil((nextBoundary - now) / 1000));
  }

  #tick(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    if (this.#active()) {
      const f = this.frame();
      if (f > this.#last) {
        this.#last = f;
        this.#onFrame(f, Math.floor(this.#epochUsec + (f - this.#frameBase) * this.periodUsec));
      }
    } else {
      this.#last = this.frame();
    }
    this.#schedule();
  }
}

/** Replaces a leading `~` by `$HOME` (compat-uae paths). */
export function expandHome(path: string): string {
  if (!path.startsWith("~")) return path;
  let home = "";
  try {
    home = g.Deno?.env?.get?.("HOME") ?? g.process?.env?.HOME ?? "";
  } catch {
    // No env permission: leave "~" paths relative to "".
  }
  return home + path.slice(1);
}
