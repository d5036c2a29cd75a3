/**
 * Internal: the per-process epoll reactor of the FFI transport.
 *
 * One epoll instance, one eventfd, and at most ONE pending `epoll_wait` on Deno's FFI thread pool
 * (`nonblocking: true`) at any time, however many sockets are registered. When it returns, the main
 * thread dispatches readiness to the registered sources, which do their own non-blocking
 * `recvmsg`/`accept4`/`sendmsg` loops synchronously (so errno is reliable), then the wait is armed
 * again.
 *
 * Keep-alive: a pending FFI call keeps the process alive and cannot be unref'd, so
 * - while at least one registered source wants to keep the process alive (a listener, a started
 *   connection that is ref'd, a connection with a pending write), the reactor waits without timeout;
 * - while sources are registered but none keeps the process alive (`ref(false)`), it waits at most
 *   {@linkcode UNREF_POLL_MS} and re-arms from an unref'd timer, so the process can exit in the gap
 *   between two waits (exit is delayed by at most that long);
 * - when nothing is registered it stops; a pending wait is woken through the eventfd.
 *
 * The level-triggered interest set is changed with `epoll_ctl` from the main thread while the wait
 * is pending (safe: the kernel sees the change at once), so adding a socket needs no wake-up.
 *
 * @module
 */

import {
  alloc,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  EINTR,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
  errno,
  errnoError,
  libc,
  type LibcSymbols,
} from "./libc.ts";

/** Longest wait while only unref'd sources are registered (bounds the exit delay). */
export const UNREF_POLL_MS = 100;
const MAX_EVENTS = 256;
const WAKE_TOKEN = 0;

/** Something registered with the reactor. */
export interface Source {
  /** Called on the main thread with the ready `EPOLL*` bits. */
  onEvents(events: number): void;
}

/** The process-wide reactor. Use {@linkcode reactor} to get it. */
export class Reactor {
  readonly #c: LibcSymbols;
  readonly #epfd: number;
  readonly #efd: number;
  readonly #events = alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #eventsView = new DataView(this.#events.buffer);
  readonly #syncEvents = alloc(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #syncView = new DataView(this.#syncEvents.buffer);
  readonly #ctl = alloc(16);
  readonly #ctlView = new DataView(this.#ctl.buffer);
  readonly #wakeBuf = alloc(8);
  readonly #sources = new Map<number, Source>();
  #nextToken = 1;
  #alive = 0;
  #waiting = false;
  #waitInfinite = false;
  #woken = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #idle: (() => void)[] = [];
  /** Number of `epoll_wait` calls issued on the thread pool (for tests and benchmarks). */
  poolWaits = 0;

  constructor() {
    const c = libc();
    this.#c = c;
    const epfd = c.epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) throw errnoError(errno(), "Cannot create epoll instance");
    const efd = c.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
      const e = errno();
      c.close(epfd);
      throw errnoError(e, "Cannot create eventfd");
    }
    this.#epfd = epfd;
    this.#efd = efd;
    this.#ctlOp(EPOLL_CTL_ADD, efd, EPOLLIN, WAKE_TOKEN);
    new DataView(this.#wakeBuf.buffer).setBigUint64(0, 1n, true);
  }

  /** Number of registered sockets. */
  get registered(): number {
    return this.#sources.size;
  }

  /** Number of registered sockets that keep the process alive. */
  get keepAlive(): number {
    return this.#alive;
  }

  /** Whether an `epoll_wait` is pending or scheduled. */
  get active(): boolean {
    return this.#waiting || this.#timer !== undefined;
  }

  #ctlOp(op: number, fd: number, events: number, token: number): void {
    const v = this.#ctlView;
    v.setUint32(0, events, true);
    v.setUint32(EPOLL_DATA_OFFSET, token, true);
    v.setUint32(EPOLL_DATA_OFFSET + 4, 0, true);
    if (this.#c.epoll_ctl(this.#epfd, op, fd, this.#ctl) < 0) {
      throw errnoError(errno(), `epoll_ctl(${op}) failed for descriptor ${fd}`);
    }
  }

  /** Registers `fd` for `events`; returns the token to modify or remove it. */
  add(fd: number, events: number, source: Source): number {
    const token = this.#nextToken++;
    if (this.#nextToken > 0xffffffff) this.#nextToken = 1;
    this.#ctlOp(EPOLL_CTL_ADD, fd, events, token);
    this.#sources.set(token, source);
    this.#schedule();
    return token;
  }

  /** Changes the interest set of a registered descriptor. */
  modify(fd: number, token: number, events: number): void {
    this.#ctlOp(EPOLL_CTL_MOD, fd, events, token);
  }

  /** Unregisters a descriptor (call before closing it). */
  remove(fd: number, token: number): void {
    if (!this.#sources.delete(token)) return;
    this.#c.epoll_ctl(this.#epfd, EPOLL_CTL_DEL, fd, this.#ctl);
    this.#schedule();
  }

  /** Adjusts the keep-alive count by `delta` (+1 / -1). */
  keep(delta: number): void {
    this.#alive += delta;
    this.#schedule();
  }

  /** Resolves once no wait is pending or scheduled (the reactor stopped: nothing registered). */
  whenIdle(): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #wake(): void {
    if (this.#woken) return;
    this.#woken = true;
    this.#c.write(this.#efd, this.#wakeBuf, 8n);
  }

  #schedule(): void {
    if (this.#waiting) {
      // A pending wait must not hold the process: wake it so it re-evaluates.
      if (this.#alive === 0 && (this.#waitInfinite || this.#sources.size === 0)) this.#wake();
      return;
    }
    if (this.#sources.size === 0) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      this.#notifyIdle();
      return;
    }
    if (this.#alive > 0) {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      this.#wait(-1);
      return;
    }
    if (this.#timer === undefined) {
      // Only unref'd sources: re-arm from an unref'd timer, the gap in which the process may exit.
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (!this.#waiting && this.#sources.size > 0) {
          this.#wait(this.#alive > 0 ? -1 : UNREF_POLL_MS);
        } else this.#notifyIdle();
      }, 0);
      Deno.unrefTimer(this.#timer as unknown as number);
    }
  }

  #notifyIdle(): void {
    if (this.#waiting || this.#timer !== undefined) return;
    const idle = this.#idle;
    if (idle.length === 0) return;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }

  #wait(timeout: number): void {
    this.#waiting = true;
    this.#waitInfinite = timeout < 0;
    this.poolWaits++;
    this.#c.epoll_wait_nb(this.#epfd, this.#events, MAX_EVENTS, timeout).then((n) => {
      this.#waiting = false;
      // errno of the pool thread is lost: a failure is taken as EINTR and the wait re-armed.
      if (n > 0) this.#dispatch(this.#eventsView, n);
      this.#drainSync();
      this.#schedule();
    });
  }

  /** Picks up events that became ready while dispatching, without a thread-pool round trip. */
  #drainSync(): void {
    const view = this.#syncView;
    for (let i = 0; i < 4 && this.#sources.size > 0; i++) {
      const n = this.#c.epoll_wait(this.#epfd, this.#syncEvents, MAX_EVENTS, 0);
      if (n < 0 && errno() === EINTR) continue;
      if (n <= 0) return;
      this.#dispatch(view, n);
    }
  }

  #dispatch(view: DataView, n: number): void {
    for (let i = 0; i < n; i++) {
      const base = i * EPOLL_EVENT_SIZE;
      const events = view.getUint32(base, true);
      const token = view.getUint32(base + EPOLL_DATA_OFFSET, true);
      if (token === WAKE_TOKEN) {
        this.#c.read(this.#efd, this.#wakeBuf, 8n);
        this.#woken = false;
        new DataView(this.#wakeBuf.buffer).setBigUint64(0, 1n, true);
        continue;
      }
      const source = this.#sources.get(token);
      if (source === undefined) continue; // removed by an earlier event of this batch
      try {
        source.onEvents(events);
      } catch (error) {
        // Sources handle their own errors; anything escaping is a bug worth surfacing.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

let instance: Reactor | undefined;

/** The process-wide reactor, created on first use. */
export function reactor(): Reactor {
  return instance ??= new Reactor();
}

/** Resolves once the reactor (if any) has no wait pending; tests await it before finishing. */
export function reactorIdle(): Promise<void> {
  return instance === undefined ? Promise.resolve() : instance.whenIdle();
}
