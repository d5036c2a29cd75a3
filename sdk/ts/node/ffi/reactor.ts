/**
 * The process-wide readiness reactor of the FFI transport.
 *
 * One epoll instance holds every FFI socket. While at least one registration keeps the process
 * alive ("ref'd"), a single `epoll_wait` runs as a koffi async call on ONE libuv pool thread; when
 * it returns, the main thread dispatches the ready sockets (which do their own non-blocking
 * `recvmsg`/`accept4`/`sendmsg` until `EAGAIN`) and then arms the next `epoll_wait`. Changing the
 * interest set needs no wake-up (epoll applies `epoll_ctl` to a wait in progress); an eventfd in the
 * set wakes the pending wait when the last ref'd registration goes, so the async call completes,
 * is not re-armed, and the process may exit. Registrations that must not keep the process alive
 * (`ref(false)`) are then watched through a `uv_poll` on the epoll descriptor itself, unref'd, on
 * the main loop (no thread at all). The `"uvpoll"` mode uses that watcher (ref'd or not) all the
 * time instead of the pool thread.
 *
 * @module
 */

import { C, EPOLL_DATA_OFFSET, EPOLL_EVENT_SIZE, errno, NativeBlock, raw, uvPoll } from "./libc.ts";
import { socketError } from "../errors.ts";

/** Readiness callback: `events` is the epoll mask (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP…). */
export type ReadyCallback = (events: number) => void;

/** A socket registered with the reactor. */
export interface Registration {
  readonly fd: number;
  /** Current interest (EPOLLIN / EPOLLOUT). */
  readonly events: number;
  /** Whether it keeps the process alive. */
  readonly ref: boolean;
}

interface Reg extends Registration {
  token: number;
  fd: number;
  events: number;
  ref: boolean;
  inEpoll: boolean;
  callback: ReadyCallback;
}

/** How the reactor waits while something ref'd is registered. */
export type ReactorMode = "pool" | "uvpoll";

const MAX_EVENTS = 256;
const WAKE_TOKEN = 0;

/** See the module documentation. */
export class Reactor {
  readonly mode: ReactorMode;
  readonly #epfd: number;
  readonly #efd: number;
  readonly #regs = new Map<number, Reg>();
  readonly #asyncEvents = new NativeBlock(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #syncEvents = new NativeBlock(MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #ctl = new NativeBlock(16);
  readonly #one = new BigUint64Array([1n]);
  readonly #drain = new BigUint64Array(1);
  #nextToken = 1;
  #refs = 0;
  #asyncPending = false;
  #woken = false;
  #watcher: ReturnType<typeof uvPoll> | undefined;
  #watcherRef = false;
  #updateScheduled = false;
  /** Statistics, for tests and benchmarks. */
  readonly stats = { waits: 0, wakes: 0, dispatched: 0 };

  /** @param mode See {@linkcode ReactorMode}. */
  constructor(mode: ReactorMode = "pool") {
    this.mode = mode;
    this.#epfd = raw.epoll_create1(C.EPOLL_CLOEXEC);
    if (this.#epfd < 0) throw socketError("epoll_create1", errno());
    this.#efd = raw.eventfd(0, C.EFD_CLOEXEC | C.EFD_NONBLOCK);
    if (this.#efd < 0) {
      const e = errno();
      raw.close(this.#epfd);
      throw socketError("eventfd", e);
    }
    this.#epollCtl(C.EPOLL_CTL_ADD, this.#efd, C.EPOLLIN, WAKE_TOKEN);
  }

  /** Registered sockets. */
  get size(): number {
    return this.#regs.size;
  }

  /** Registered sockets that keep the process alive. */
  get refs(): number {
    return this.#refs;
  }

  /** Whether an `epoll_wait` is pending on the pool thread. */
  get waiting(): boolean {
    return this.#asyncPending;
  }

  /**
   * Adds a non-blocking socket.
   *
   * @param fd The descriptor (the caller closes it after {@linkcode remove}).
   * @param events Initial interest; 0 keeps it out of epoll until {@linkcode setEvents}.
   * @param ref Whether it keeps the process alive.
   * @param callback Called on the main thread when ready.
   */
  add(fd: number, events: number, ref: boolean, callback: ReadyCallback): Registration {
    const reg: Reg = { token: this.#nextToken++, fd, events: 0, ref: false, inEpoll: false, callback };
    if (this.#nextToken > 0xffffffff) this.#nextToken = 1;
    this.#regs.set(reg.token, reg);
    this.setEvents(reg, events);
    this.setRef(reg, ref);
    return reg;
  }

  /** Changes the interest set of a registration. */
  setEvents(registration: Registration, events: number): void {
    const reg = registration as Reg;
    if (!this.#regs.has(reg.token) || reg.events === events) return;
    reg.events = events;
    if (events === 0) {
      // Out of epoll entirely: level-triggered EPOLLHUP would otherwise fire forever.
      if (reg.inEpoll) this.#epollCtl(C.EPOLL_CTL_DEL, reg.fd, 0, 0);
      reg.inEpoll = false;
    } else if (reg.inEpoll) {
      this.#epollCtl(C.EPOLL_CTL_MOD, reg.fd, events, reg.token);
    } else {
      this.#epollCtl(C.EPOLL_CTL_ADD, reg.fd, events, reg.token);
      reg.inEpoll = true;
    }
    this.#scheduleUpdate();
  }

  /** Whether a registration keeps the process alive. */
  setRef(registration: Registration, ref: boolean): void {
    const reg = registration as Reg;
    if (!this.#regs.has(reg.token) || reg.ref === ref) return;
    reg.ref = ref;
    this.#refs += ref ? 1 : -1;
    this.#scheduleUpdate();
  }

  /** Removes a registration (before its descriptor is closed). Idempotent. */
  remove(registration: Registration): void {
    const reg = registration as Reg;
    if (!this.#regs.delete(reg.token)) return;
    if (reg.inEpoll) this.#epollCtl(C.EPOLL_CTL_DEL, reg.fd, 0, 0);
    reg.inEpoll = false;
    if (reg.ref) this.#refs--;
    reg.ref = false;
    reg.events = 0;
    this.#scheduleUpdate();
  }

  #epollCtl(op: number, fd: number, events: number, token: number): void {
    const v = this.#ctl.view;
    v.setUint32(0, events >>> 0, true);
    v.setUint32(EPOLL_DATA_OFFSET, token >>> 0, true);
    v.setUint32(EPOLL_DATA_OFFSET + 4, 0, true);
    if (raw.epoll_ctl(this.#epfd, op, fd, this.#ctl.ptr) < 0) {
      const e = errno();
      if (op === C.EPOLL_CTL_DEL && (e === C.EBADF || e === 2 /* ENOENT */)) return;
      throw socketError("epoll_ctl", e);
    }
  }

  // Arming is deferred to a microtask so a burst of changes (a connection being set up, a loop of
  // writes) costs one decision.
  #scheduleUpdate(): void {
    if (this.#updateScheduled) return;
    this.#updateScheduled = true;
    queueMicrotask(() => {
      this.#updateScheduled = false;
      this.#update();
    });
  }

  #update(): void {
    const wantRef = this.#refs > 0;
    const wantAny = this.#regs.size > 0;
    if (this.mode === "pool" && wantRef) {
      this.#setWatcher(false, false);
      if (!this.#asyncPending) this.#arm();
      return;
    }
    if (this.#asyncPending) {
      // The pool thread is waiting but nothing ref'd is left (or nothing at all): wake it; the
      // completion then comes back here and switches to the watcher (or to nothing).
      if (!this.#woken) {
        this.#woken = true;
        this.stats.wakes++;
        raw.write(this.#efd, this.#one, 8);
      }
      return;
    }
    this.#setWatcher(wantAny, wantRef);
  }

  #setWatcher(on: boolean, ref: boolean): void {
    if (!on) {
      if (this.#watcher) {
        this.#watcher.close();
        this.#watcher = undefined;
      }
      return;
    }
    if (!this.#watcher) {
      this.#watcher = uvPoll(this.#epfd, { readable: true }, () => this.#pollNow());
      this.#watcherRef = true;
    }
    if (ref !== this.#watcherRef) {
      if (ref) this.#watcher.ref();
      else this.#watcher.unref();
      this.#watcherRef = ref;
    }
  }

  #pollNow(): void {
    const n = raw.epoll_wait(this.#epfd, this.#syncEvents.ptr, MAX_EVENTS, 0);
    if (n > 0) this.#dispatch(this.#syncEvents.view, n);
    this.#update();
  }

  #arm(): void {
    this.#asyncPending = true;
    this.stats.waits++;
    raw.epoll_wait.async(this.#epfd, this.#asyncEvents.ptr, MAX_EVENTS, -1, (error: unknown, n: number) => {
      this.#asyncPending = false;
      this.#woken = false;
      if (!error && n > 0) this.#dispatch(this.#asyncEvents.view, n);
      this.#update();
    });
  }

  #dispatch(view: DataView, n: number): void {
    for (let i = 0; i < n; i++) {
      const base = i * EPOLL_EVENT_SIZE;
      const events = view.getUint32(base, true);
      const token = view.getUint32(base + EPOLL_DATA_OFFSET, true);
      if (token === WAKE_TOKEN) {
        raw.read(this.#efd, this.#drain, 8);
        continue;
      }
      const reg = this.#regs.get(token);
      // Gone, or no longer interested (removed or changed by an earlier callback of this batch).
      if (reg === undefined || reg.events === 0) continue;
      this.stats.dispatched++;
      try {
        reg.callback(events);
      } catch (error) {
        // Like an exception thrown from a 'data' listener: report it as uncaught, keep going.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

let shared: Reactor | undefined;

/**
 * The process-wide reactor, created on first use. Its mode comes from `mode` (first call only),
 * else from the environment variable `COPPERLINE_NODE_REACTOR` (`pool` or `uvpoll`), else
 * `"uvpoll"`: measured here it matches `node:net`'s round trip (about 35 µs against 68 µs for
 * `"pool"`) and holds no libuv pool thread. Asking for another mode once it exists throws.
 */
export function reactor(mode?: ReactorMode): Reactor {
  if (shared === undefined) {
    const env = process.env.COPPERLINE_NODE_REACTOR;
    shared = new Reactor(mode ?? (env === "pool" ? "pool" : "uvpoll"));
  } else if (mode !== undefined && mode !== shared.mode) {
    throw new Error(`The FFI reactor already runs in "${shared.mode}" mode; choose the mode before the first socket`);
  }
  return shared;
}
