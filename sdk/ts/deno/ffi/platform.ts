/**
 * `ffiPlatform`: the FD-capable Deno {@linkcode Platform}, with every socket owned through libc.
 *
 * Addresses: `/path` (or a relative path) for a path socket, `@name` for a Linux abstract socket
 * whose name is used with its exact length (the length passed to `bind`/`connect` is
 * `offsetof(sun_path) + 1 + name bytes`), as PROTOCOL.md §1 requires.
 *
 * Needs `--allow-ffi` (and, for the stale-socket check, `--allow-read`).
 *
 * @module
 */

import type {
  Connection,
  ConnectOptions,
  Listener,
  ListenOptions,
  Platform,
} from "../../core/transport.ts";
import { FfiConnection, type FfiConnectionOptions } from "./connection.ts";
import {
  AF_UNIX,
  alloc,
  cString,
  EADDRINUSE,
  EAGAIN,
  ECONNABORTED,
  ECONNREFUSED,
  EINTR,
  EMFILE,
  ENAMETOOLONG,
  ENFILE,
  ENOBUFS,
  ENOENT,
  ENOMEM,
  EPOLLIN,
  errno,
  type ErrnoError,
  errnoError,
  libc,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "./libc.ts";
import { reactor } from "./reactor.ts";

const SUN_PATH_OFFSET = 2;
const SUN_PATH_MAX = 108;
const LISTEN_BACKLOG = 4096;
const ACCEPTS_PER_EVENT = 64;
const ACCEPT_PAUSE_MS = 100;
const EISCONN = 106;
const EALREADY = 114;
const EINPROGRESS = 115;

/** Options of `ffiPlatform.connect`. */
export interface FfiConnectOptions extends ConnectOptions, FfiConnectionOptions {}
/** Options of `ffiPlatform.listen` (connection options apply to every accepted connection). */
export interface FfiListenOptions extends ListenOptions, FfiConnectionOptions {}

/** A `sockaddr_un` of exact length for `address`. */
export function sockaddrUn(address: string): { addr: Uint8Array<ArrayBuffer>; length: number } {
  const abstract = address.startsWith("@");
  const name = new TextEncoder().encode(abstract ? address.slice(1) : address);
  if (name.length === 0) throw new TypeError(`Invalid Unix socket address "${address}"`);
  if (!abstract && name.includes(0)) {
    throw new TypeError(`Invalid Unix socket address "${address}": contains a NUL byte`);
  }
  // A path needs its terminating NUL inside sun_path; an abstract name needs the leading NUL.
  if (name.length + 1 > SUN_PATH_MAX) {
    throw errnoError(ENAMETOOLONG, `Invalid Unix socket address "${address}"`);
  }
  const addr = alloc(SUN_PATH_OFFSET + SUN_PATH_MAX);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, SUN_PATH_OFFSET + (abstract ? 1 : 0));
  return { addr, length: SUN_PATH_OFFSET + 1 + name.length };
}

function newSocket(context: string): number {
  const fd = libc().socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError(errno(), context);
  return fd;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Connects a new non-blocking socket to `address`. A full backlog (`EAGAIN`) is retried with a
 * growing delay until the signal aborts.
 */
async function connectSocket(address: string, signal?: AbortSignal): Promise<number> {
  signal?.throwIfAborted();
  const context = `Cannot connect to "${address}"`;
  const { addr, length } = sockaddrUn(address);
  const c = libc();
  const fd = newSocket(context);
  let wait = 1;
  try {
    for (;;) {
      if (c.connect(fd, addr, length) === 0) return fd;
      const e = errno();
      if (e === EISCONN) return fd;
      if (e === EINTR) continue;
      if (e === EAGAIN || e === EINPROGRESS || e === EALREADY) {
        await delay(wait, signal);
        wait = Math.min(wait * 2, 50);
        continue;
      }
      throw errnoError(e, context);
    }
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

/** Probes a path socket: `"live"` (someone accepts), `"stale"` (refused) or `"gone"`. */
function probe(address: string): "live" | "stale" | "gone" {
  const { addr, length } = sockaddrUn(address);
  const c = libc();
  const fd = newSocket(`Cannot probe "${address}"`);
  try {
    for (;;) {
      if (c.connect(fd, addr, length) === 0) return "live";
      const e = errno();
      if (e === EINTR) continue;
      if (e === ECONNREFUSED) return "stale";
      if (e === ENOENT) return "gone";
      // EAGAIN (backlog full) and anything unexpected: assume someone owns it.
      return "live";
    }
  } finally {
    c.close(fd);
  }
}

function inUse(address: string): ErrnoError {
  const error = new Deno.errors.AddrInUse(`Address "${address}" is already in use`) as ErrnoError;
  error.code = "EADDRINUSE";
  error.errno = EADDRINUSE;
  return error;
}

function isSocketFile(path: string): boolean {
  try {
    return Deno.lstatSync(path).isSocket === true;
  } catch {
    return false;
  }
}

function bindSocket(fd: number, address: string): void {
  const { addr, length } = sockaddrUn(address);
  const c = libc();
  const abstract = address.startsWith("@");
  for (let attempt = 0;; attempt++) {
    if (c.bind(fd, addr, length) === 0) return;
    const e = errno();
    if (e === EINTR) continue;
    if (e !== EADDRINUSE) throw errnoError(e, `Cannot listen on "${address}"`);
    if (abstract || attempt >= 3) throw inUse(address);
    const state = probe(address);
    if (state === "live") throw inUse(address);
    if (state === "stale") {
      // Only ever remove a socket file, never a regular file that happens to sit there.
      if (!isSocketFile(address)) throw inUse(address);
      if (c.unlink(cString(address)) < 0 && errno() !== ENOENT) throw inUse(address);
    }
  }
}

/** A listening socket owned through libc, accepting on the reactor. */
export class FfiListener implements Listener {
  /** The address it listens on. */
  readonly address: string;
  #fd: number;
  #token: number;
  #closed = false;
  #paused = false;
  #inode: number | null = null;
  readonly #onConnection: (connection: Connection) => void;
  readonly #options: FfiConnectionOptions;

  /** Takes ownership of the bound, listening, non-blocking socket `fd`. */
  constructor(
    fd: number,
    address: string,
    onConnection: (connection: Connection) => void,
    options: FfiConnectionOptions = {},
  ) {
    this.address = address;
    this.#fd = fd;
    this.#onConnection = onConnection;
    this.#options = { maxFdsPerMessage: options.maxFdsPerMessage };
    if (!address.startsWith("@")) {
      try {
        this.#inode = Deno.lstatSync(address).ino;
      } catch {
        this.#inode = null;
      }
    }
    const r = reactor();
    this.#token = r.add(fd, EPOLLIN, this);
    r.keep(1);
  }

  /** Reactor callback: accepts pending connections. */
  onEvents(_events: number): void {
    const c = libc();
    for (let i = 0; i < ACCEPTS_PER_EVENT && !this.#closed && !this.#paused; i++) {
      const fd = c.accept4(this.#fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const e = errno();
        if (e === EINTR || e === ECONNABORTED) continue;
        if (e === EAGAIN) return;
        if (e === EMFILE || e === ENFILE || e === ENOBUFS || e === ENOMEM) {
          // Out of descriptors/memory: stop polling the (still readable) socket for a while.
          this.#pause();
        }
        return;
      }
      const connection = new FfiConnection(fd, this.#options);
      try {
        this.#onConnection(connection);
      } catch (error) {
        connection.close();
        reportError(error);
      }
    }
  }

  #pause(): void {
    this.#paused = true;
    const r = reactor();
    r.remove(this.#fd, this.#token);
    setTimeout(() => {
      this.#paused = false;
      if (!this.#closed) this.#token = r.add(this.#fd, EPOLLIN, this);
    }, ACCEPT_PAUSE_MS);
  }

  /** Stops accepting and removes the socket file (if it is still ours). Existing connections stay. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    const r = reactor();
    if (!this.#paused) r.remove(this.#fd, this.#token);
    r.keep(-1);
    libc().close(this.#fd);
    this.#fd = -1;
    if (!this.address.startsWith("@")) {
      let ours = true;
      try {
        ours = this.#inode === null || Deno.lstatSync(this.address).ino === this.#inode;
      } catch (error) {
        ours = !(error instanceof Deno.errors.NotFound);
      }
      if (ours) libc().unlink(cString(this.address));
    }
    return Promise.resolve();
  }
}

/** Binds and listens on `address`; see {@linkcode ffiPlatform}. */
function listenSocket(address: string, options: ListenOptions): number {
  const fd = newSocket(`Cannot listen on "${address}"`);
  const c = libc();
  try {
    bindSocket(fd, address);
    if (!address.startsWith("@")) {
      // Nobody can connect before listen(), so setting mode and group now leaves no window.
      const path = cString(address);
      const mode = options.mode ?? 0o660;
      if (c.chmod(path, mode) < 0) {
        const e = errno();
        c.unlink(path);
        throw errnoError(e, `Cannot set mode ${mode.toString(8)} on "${address}"`);
      }
      if (options.gid !== undefined) {
        if (c.chown(path, 0xffffffff, options.gid) < 0) {
          const e = errno();
          c.unlink(path);
          throw errnoError(e, `Cannot set group ${options.gid} on "${address}"`);
        }
      }
    }
    if (c.listen(fd, LISTEN_BACKLOG) < 0) {
      const e = errno();
      if (!address.startsWith("@")) c.unlink(cString(address));
      throw errnoError(e, `Cannot listen on "${address}"`);
    }
    return fd;
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

/**
 * The Deno platform whose connections pass file descriptors (`fdPassing` is always true). Every
 * socket is a libc socket driven by one epoll reactor per process.
 *
 * - `connect(address, { signal, maxFdsPerMessage })`
 * - `listen(address, onConnection, { mode = 0o660, gid, maxFdsPerMessage })`: a stale path socket
 *   is replaced, a live one is not stolen (`AddrInUse`, `.code` `"EADDRINUSE"`).
 *
 * Errors are `Deno.errors.*` with `.code` set to the errno name, e.g.
 * `Cannot connect to "/run/x.sock": connection refused` (`ECONNREFUSED`).
 */
export const ffiPlatform: Platform = {
  name: "deno-ffi",
  async connect(address: string, options: FfiConnectOptions = {}): Promise<Connection> {
    const fd = await connectSocket(address, options.signal);
    return new FfiConnection(fd, options);
  },
  listen(
    address: string,
    onConnection: (connection: Connection) => void,
    options: FfiListenOptions = {},
  ): Promise<Listener> {
    try {
      const fd = listenSocket(address, options);
      return Promise.resolve(new FfiListener(fd, address, onConnection, options));
    } catch (error) {
      return Promise.reject(error);
    }
  },
  env(name: string): string | undefined {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  },
};
