/**
 * The FFI platform (name `"node-ffi"`): Unix sockets through libc via koffi, with SCM_RIGHTS
 * descriptor passing and exact-length abstract `@name` addresses.
 *
 * Sockets are non-blocking and driven by the process-wide {@linkcode Reactor}: on readiness the main
 * thread calls `recvmsg` / `accept4` / `sendmsg` until `EAGAIN`; nothing ever blocks the event
 * loop and no thread is held per connection.
 *
 * @module
 */

import "../dispose.ts";
import type {
  ConnectionSink,
  ConnectOptions,
  Connection,
  FdHandle,
  Listener,
  ListenOptions,
  Platform,
} from "../../core/transport.ts";
import { parseAddress, type SocketAddress } from "../address.ts";
import { closedError, socketError } from "../errors.ts";
import { finishPathSocket, replaceStale, unlinkIfOurs } from "../net_platform.ts";
import { NodeFdHandle } from "./fd_handle.ts";
import {
  C,
  CMSG_HDR,
  cmsgAlign,
  cmsgLen,
  cmsgSpace,
  errno,
  IOVEC_SIZE,
  MSGHDR,
  NativeBlock,
  raw,
} from "./libc.ts";
import { type Registration, reactor } from "./reactor.ts";

/** The kernel's limit of descriptors per message (SCM_MAX_FD). */
export const SCM_MAX_FD = 253;

/** Options of {@linkcode createNodeFfiPlatform}. */
export interface NodeFfiOptions {
  /**
   * Most descriptors accepted in one received message (0–253, default 253 = SCM_MAX_FD, so nothing
   * legitimate is truncated): the control buffer handed to `recvmsg` holds this many. More sets
   * `MSG_CTRUNC`: the kernel drops the excess, the descriptors that did arrive are closed, the
   * connection's `fdsTruncated` count goes up and the sink's optional `fdsTruncated()` is called
   * before the `data()` of that chunk. Each connection can change its own limit.
   */
  maxFdsPerMessage?: number;
  /** Bytes read per `recvmsg`. Default 65,536. */
  readBufferSize?: number;
  /** Most `recvmsg` calls per connection per readiness event (fairness). Default 16. */
  readsPerWakeup?: number;
}

/**
 * A {@linkcode ConnectionSink} that also wants to hear about control-message truncation
 * (`MSG_CTRUNC`). The same optional method as the Deno FFI connection; proposed for the contract.
 */
export interface FfiConnectionSink extends ConnectionSink {
  /** Called before the `data()` of a chunk whose descriptors were truncated (and closed). */
  fdsTruncated?(): void;
}

function checkMaxFds(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > SCM_MAX_FD) {
    throw new RangeError(`maxFdsPerMessage must be an integer 0..${SCM_MAX_FD}, got ${value}`);
  }
  return value;
}

const SEND_STAGE = 65536;

/** Native buffers shared by all connections of one platform (everything runs on one thread). */
class IoBuffers {
  readonly readSize: number;
  readonly maxFds: number;
  readonly readsPerWakeup: number;
  readonly recvHdr = new NativeBlock(MSGHDR.size);
  readonly recvIov = new NativeBlock(IOVEC_SIZE);
  readonly recvBuf: NativeBlock;
  readonly recvCtrl: NativeBlock;
  readonly sendHdr = new NativeBlock(MSGHDR.size);
  readonly sendIov = new NativeBlock(IOVEC_SIZE);
  readonly sendStage = new NativeBlock(SEND_STAGE);
  readonly sendCtrl = new NativeBlock(cmsgSpace(4 * SCM_MAX_FD));

  constructor(options: NodeFfiOptions) {
    this.maxFds = checkMaxFds(options.maxFdsPerMessage ?? SCM_MAX_FD);
    this.readSize = options.readBufferSize ?? 65536;
    this.readsPerWakeup = options.readsPerWakeup ?? 16;
    this.recvBuf = new NativeBlock(this.readSize);
    this.recvCtrl = new NativeBlock(cmsgSpace(4 * SCM_MAX_FD));
    const rv = this.recvIov.view;
    rv.setBigUint64(0, this.recvBuf.address, true);
    rv.setBigUint64(8, BigInt(this.readSize), true);
    const rh = this.recvHdr.view;
    rh.setBigUint64(MSGHDR.iov, this.recvIov.address, true);
    rh.setBigUint64(MSGHDR.iovlen, 1n, true);
    rh.setBigUint64(MSGHDR.control, this.recvCtrl.address, true);
    const sv = this.sendIov.view;
    sv.setBigUint64(0, this.sendStage.address, true);
    const sh = this.sendHdr.view;
    sh.setBigUint64(MSGHDR.iov, this.sendIov.address, true);
    sh.setBigUint64(MSGHDR.iovlen, 1n, true);
    sh.setBigUint64(MSGHDR.control, this.sendCtrl.address, true);
  }

  /** `recvmsg` into `recvBuf`; returns the byte count (or -errno) and the descriptors. */
  recv(fd: number, maxFds: number): { n: number; fds: number[] | undefined; truncated: boolean } {
    const h = this.recvHdr.view;
    h.setUint32(MSGHDR.namelen, 0, true);
    h.setBigUint64(MSGHDR.controllen, maxFds > 0 ? BigInt(cmsgSpace(4 * maxFds)) : 0n, true);
    h.setInt32(MSGHDR.flags, 0, true);
    const n = raw.recvmsg(fd, this.recvHdr.ptr, C.MSG_CMSG_CLOEXEC | C.MSG_DONTWAIT);
    if (n < 0) return { n: -errno(), fds: undefined, truncated: false };
    const controllen = Number(h.getBigUint64(MSGHDR.controllen, true));
    const truncated = (h.getInt32(MSGHDR.flags, true) & C.MSG_CTRUNC) !== 0;
    let fds: number[] | undefined;
    if (controllen >= CMSG_HDR) {
      const c = this.recvCtrl.view;
      let off = 0;
      while (off + CMSG_HDR <= controllen) {
        const len = Number(c.getBigUint64(off, true));
        if (len < CMSG_HDR || off + len > controllen) break;
        if (c.getInt32(off + 8, true) === C.SOL_SOCKET && c.getInt32(off + 12, true) === C.SCM_RIGHTS) {
          const count = (len - CMSG_HDR) >> 2;
          fds ??= [];
          for (let i = 0; i < count; i++) fds.push(c.getInt32(off + CMSG_HDR + 4 * i, true));
        }
        off += cmsgAlign(len);
      }
    }
    return { n, fds, truncated };
  }

  /** `sendmsg` of up to SEND_STAGE bytes of `bytes` with `fds` attached; returns n or -errno. */
  sendWithFds(fd: number, bytes: Uint8Array, fds: readonly number[]): number {
    const len = Math.min(bytes.length, SEND_STAGE);
    this.sendStage.bytes.set(len === bytes.length ? bytes : bytes.subarray(0, len));
    this.sendIov.view.setBigUint64(8, BigInt(len), true);
    const c = this.sendCtrl.view;
    c.setBigUint64(0, BigInt(cmsgLen(4 * fds.length)), true);
    c.setInt32(8, C.SOL_SOCKET, true);
    c.setInt32(12, C.SCM_RIGHTS, true);
    for (let i = 0; i < fds.length; i++) c.setInt32(CMSG_HDR + 4 * i, fds[i], true);
    const h = this.sendHdr.view;
    h.setBigUint64(MSGHDR.controllen, BigInt(cmsgSpace(4 * fds.length)), true);
    const n = raw.sendmsg(fd, this.sendHdr.ptr, C.MSG_NOSIGNAL | C.MSG_DONTWAIT);
    return n < 0 ? -errno() : n;
  }
}

interface WriteRequest {
  chunk: Uint8Array;
  offset: number;
  fds: readonly number[] | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** A non-blocking FFI socket as a {@linkcode Connection}. */
export class FfiConnection implements Connection {
  readonly fdPassing = true;
  /** The address this connection was made to or accepted on. */
  readonly address: string;
  readonly #fd: number;
  readonly #io: IoBuffers;
  #reg: Registration | undefined;
  #sink: FfiConnectionSink | undefined;
  #maxFds: number;
  /** How many received messages had their descriptors truncated (MSG_CTRUNC). */
  fdsTruncated = 0;
  #reading = false;
  #eof = false;
  #closed = false;
  #notified = false;
  #closeError: Error | undefined;
  #ref = true;
  #queue: WriteRequest[] = [];
  #closeWhenFlushed = false;
  #probe: ReturnType<typeof setInterval> | undefined;

  /**
   * @param fd A connected non-blocking close-on-exec socket (owned from now on).
   * @param address For messages.
   * @param io The platform's buffers.
   */
  constructor(fd: number, address: string, io: IoBuffers) {
    this.#fd = fd;
    this.address = address;
    this.#io = io;
    this.#maxFds = io.maxFds;
  }

  /** Most descriptors accepted in one received message (see {@linkcode NodeFfiOptions}). */
  get maxFdsPerMessage(): number {
    return this.#maxFds;
  }

  set maxFdsPerMessage(value: number) {
    this.#maxFds = checkMaxFds(value);
  }

  /** The socket descriptor (for diagnostics). */
  get fd(): number {
    return this.#fd;
  }

  start(sink: ConnectionSink): void {
    if (this.#sink) throw new Error("Connection already started");
    this.#sink = sink;
    if (this.#closed) {
      queueMicrotask(() => this.#notify());
      return;
    }
    this.#reading = true;
    this.#interest();
  }

  write(chunk: Uint8Array, fds?: readonly number[]): Promise<void> | void {
    if (this.#closed) throw this.#closeError ?? closedError(this.address);
    if (fds && fds.length > 0) {
      if (fds.length > SCM_MAX_FD) throw new RangeError(`At most ${SCM_MAX_FD} descriptors per write, got ${fds.length}`);
      if (chunk.length === 0) throw new RangeError("Descriptors need at least one byte to travel with");
    } else {
      fds = undefined;
    }
    const req: WriteRequest = { chunk, offset: 0, fds, resolve: noop, reject: noop };
    if (this.#queue.length === 0) {
      let done: boolean;
      try {
        done = this.#send(req);
      } catch (error) {
        this.#fail(error as Error);
        throw error;
      }
      if (done) return;
    }
    const promise = new Promise<void>((resolve, reject) => {
      req.resolve = resolve;
      req.reject = reject;
    });
    this.#queue.push(req);
    if (this.#queue.length === 1) this.#interest();
    return promise;
  }

  /** UTF-8 through `Buffer.from`, several times faster than `TextEncoder` on Node. */
  encode(text: string): Uint8Array {
    return Buffer.from(text, "utf8");
  }

  close(): void {
    this.#shutdown(undefined);
  }

  ref(keepAlive: boolean): void {
    this.#ref = keepAlive;
    this.#interest();
  }

  // true: all written; false: EAGAIN (req.offset tells how far); throws on error.
  #send(req: WriteRequest): boolean {
    const { chunk } = req;
    while (req.offset < chunk.length) {
      let n: number;
      if (req.fds) {
        n = this.#io.sendWithFds(this.#fd, req.offset === 0 ? chunk : chunk.subarray(req.offset), req.fds);
      } else {
        const rest = req.offset === 0 ? chunk : chunk.subarray(req.offset);
        n = raw.send(this.#fd, rest, rest.length, C.MSG_NOSIGNAL | C.MSG_DONTWAIT);
        if (n < 0) n = -errno();
      }
      if (n < 0) {
        if (n === -C.EINTR) continue;
        if (n === -C.EAGAIN) return false;
        throw socketError("write", -n, this.address);
      }
      if (n > 0) req.fds = undefined; // attached to the first byte; never again
      req.offset += n;
    }
    return true;
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const req = this.#queue[0];
      let done: boolean;
      try {
        done = this.#send(req);
      } catch (error) {
        this.#fail(error as Error);
        return;
      }
      if (!done) return;
      this.#queue.shift();
      req.resolve();
    }
    this.#interest();
    if (this.#closeWhenFlushed) this.#shutdown(undefined);
  }

  #read(): void {
    const io = this.#io;
    for (let i = 0; i < io.readsPerWakeup; i++) {
      if (this.#closed || !this.#reading) return;
      const { n, fds, truncated } = io.recv(this.#fd, this.#maxFds);
      if (n > 0) {
        const chunk = io.recvBuf.bytes.slice(0, n);
        let handles: FdHandle[] | undefined;
        if (truncated) {
          if (fds) for (const fd of fds) raw.close(fd);
          this.fdsTruncated++;
          this.#sink!.fdsTruncated?.();
        } else if (fds) {
          handles = fds.map((fd) => new NodeFdHandle(fd));
        }
        if (this.#closed || this.#notified) {
          if (handles) for (const h of handles) h.close();
          return;
        }
        this.#sink!.data(chunk, handles);
        if (n < io.readSize) return; // drained (level-triggered epoll reports the rest)
      } else if (n === 0) {
        this.#onEof();
        return;
      } else if (n === -C.EAGAIN) {
        return;
      } else if (n !== -C.EINTR) {
        this.#fail(socketError("read", -n, this.address));
        return;
      }
    }
  }

  // Peer closed its side. A sink that takes half-closed connections (`ended`) keeps writing until
  // close() or a failed write. Otherwise, like node:net's allowHalfOpen=false: replies the sink
  // produces for what arrived (in this turn's microtasks) still go out, then the connection closes.
  #onEof(): void {
    this.#eof = true;
    this.#interest();
    // A peer that only shut down its sending side still reads; one that closed completely fails an
    // empty send (EPIPE). Only the first is a half-close; it is checked again every PROBE_MS, as
    // the poll no longer reads this socket and would not notice the peer leaving.
    if (this.#sink?.ended && this.#peerReads()) {
      this.#probe = setInterval(() => {
        if (!this.#closed && !this.#peerReads()) this.#fail(socketError("write", C.EPIPE, this.address));
      }, PROBE_MS);
      this.#probe.unref();
      this.#sink.ended();
      return;
    }
    setImmediate(() => {
      if (this.#closed) return;
      if (this.#queue.length === 0) this.#shutdown(undefined);
      else this.#closeWhenFlushed = true;
    });
  }

  #ready(events: number): void {
    if (this.#queue.length > 0 && (events & (C.EPOLLOUT | C.EPOLLERR | C.EPOLLHUP)) !== 0) this.#flush();
    if (this.#reading && !this.#eof && (events & (C.EPOLLIN | C.EPOLLERR | C.EPOLLHUP)) !== 0) this.#read();
  }

  #interest(): void {
    if (this.#closed) return;
    const reading = this.#reading && !this.#eof;
    const writing = this.#queue.length > 0;
    const events = (reading ? C.EPOLLIN : 0) | (writing ? C.EPOLLOUT : 0);
    const ref = (reading && this.#ref) || writing;
    const r = reactor();
    if (this.#reg === undefined) {
      if (events === 0) return;
      this.#reg = r.add(this.#fd, events, ref, (ev) => this.#ready(ev));
    } else {
      r.setEvents(this.#reg, events);
      r.setRef(this.#reg, ref);
    }
  }

  #fail(error: Error): void {
    this.#shutdown(error);
  }

  #peerReads(): boolean {
    return raw.send(this.#fd, EMPTY, 0, C.MSG_NOSIGNAL | C.MSG_DONTWAIT) >= 0 || errno() !== C.EPIPE;
  }

  #shutdown(error: Error | undefined): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    this.#closeError = error;
    if (this.#reg) reactor().remove(this.#reg);
    this.#reg = undefined;
    raw.close(this.#fd);
    const queue = this.#queue;
    this.#queue = [];
    for (const req of queue) req.reject(error ?? closedError(this.address));
    queueMicrotask(() => this.#notify());
  }

  #notify(): void {
    if (this.#notified || !this.#sink) return;
    this.#notified = true;
    this.#sink.closed(this.#closeError);
  }
}

/** After a half-close, how often to check that the peer still reads (see #onEof). */
const PROBE_MS = 250;
const EMPTY = new Uint8Array(0);

function noop(): void {}

/** A `sockaddr_un` for `addr`, with its exact length. */
function sockaddr(addr: SocketAddress): { bytes: Uint8Array; length: number } {
  const bytes = new Uint8Array(110);
  bytes[0] = C.AF_UNIX; // sa_family (little-endian u16)
  if (addr.kind === "abstract") {
    bytes.set(addr.name, 3); // sun_path[0] = 0, then the name, no padding counted
    return { bytes, length: 2 + 1 + addr.name.length };
  }
  const path = new TextEncoder().encode(addr.path);
  bytes.set(path, 2);
  return { bytes, length: 2 + path.length + 1 };
}

function newSocket(): number {
  const fd = raw.socket(C.AF_UNIX, C.SOCK_STREAM | C.SOCK_NONBLOCK | C.SOCK_CLOEXEC, 0);
  if (fd < 0) throw socketError("socket", errno());
  return fd;
}

/** Whether something accepts on `addr` (a non-blocking connect probe). */
function probe(addr: SocketAddress): boolean {
  const fd = newSocket();
  const sa = sockaddr(addr);
  let r: number;
  let e = 0;
  do {
    r = raw.connect(fd, sa.bytes, sa.length);
    e = r < 0 ? errno() : 0;
  } while (r < 0 && e === C.EINTR);
  raw.close(fd);
  return r === 0 || (e !== C.ECONNREFUSED && e !== C.ENOENT);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class FfiListener implements Listener {
  readonly address: string;
  readonly #fd: number;
  readonly #io: IoBuffers;
  readonly #onConnection: (connection: Connection) => void;
  readonly #path: string | undefined;
  readonly #ino: number;
  #reg: Registration | undefined;
  #closed = false;
  #paused: ReturnType<typeof setTimeout> | undefined;

  constructor(
    fd: number,
    address: string,
    io: IoBuffers,
    onConnection: (connection: Connection) => void,
    path: string | undefined,
    ino: number,
  ) {
    this.#fd = fd;
    this.address = address;
    this.#io = io;
    this.#onConnection = onConnection;
    this.#path = path;
    this.#ino = ino;
    this.#reg = reactor().add(fd, C.EPOLLIN, true, () => this.#accept());
  }

  #accept(): void {
    for (let i = 0; i < 64 && !this.#closed; i++) {
      const fd = raw.accept4(this.#fd, null, null, C.SOCK_NONBLOCK | C.SOCK_CLOEXEC);
      if (fd < 0) {
        const e = errno();
        if (e === C.EAGAIN) return;
        if (e === C.EINTR || e === C.ECONNABORTED) continue;
        // EMFILE, ENFILE, ENOBUFS, ENOMEM…: the pending connection stays queued and epoll would
        // report it again at once; back off for a moment instead of spinning.
        this.#pause();
        return;
      }
      const connection = new FfiConnection(fd, this.address, this.#io);
      try {
        this.#onConnection(connection);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #pause(): void {
    if (this.#paused || !this.#reg) return;
    reactor().setEvents(this.#reg, 0);
    this.#paused = setTimeout(() => {
      this.#paused = undefined;
      if (!this.#closed && this.#reg) reactor().setEvents(this.#reg, C.EPOLLIN);
    }, 100);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    if (this.#paused) clearTimeout(this.#paused);
    if (this.#reg) reactor().remove(this.#reg);
    this.#reg = undefined;
    raw.close(this.#fd);
    if (this.#path !== undefined) unlinkIfOurs(this.#path, this.#ino);
    return Promise.resolve();
  }
}

/** The FFI platform type, with its options. */
export interface NodeFfiPlatform extends Platform {
  readonly name: "node-ffi";
  readonly options: Readonly<NodeFfiOptions>;
}

/** Creates an FFI platform (see {@linkcode NodeFfiOptions}). */
export function createNodeFfiPlatform(options: NodeFfiOptions = {}): NodeFfiPlatform {
  let io: IoBuffers | undefined;
  const buffers = () => (io ??= new IoBuffers(options));
  // Validate eagerly so a bad option fails at creation.
  if (options.maxFdsPerMessage !== undefined) checkMaxFds(options.maxFdsPerMessage);

  return {
    name: "node-ffi",
    options: Object.freeze({ ...options }),

    async connect(address: string, connectOptions: ConnectOptions = {}): Promise<Connection> {
      const addr = parseAddress(address);
      const signal = connectOptions.signal;
      signal?.throwIfAborted();
      const io = buffers();
      const fd = newSocket();
      const sa = sockaddr(addr);
      let delay = 1;
      let waited = 0;
      for (;;) {
        const r = raw.connect(fd, sa.bytes, sa.length);
        if (r === 0) break;
        const e = errno();
        if (e === C.EINTR) continue;
        if (e === C.EAGAIN && waited < 10_000) {
          // The listener's accept backlog is full; a Unix socket does not queue the attempt.
          await sleep(delay);
          waited += delay;
          delay = Math.min(delay * 2, 100);
          if (signal?.aborted) {
            raw.close(fd);
            throw signal.reason;
          }
          continue;
        }
        raw.close(fd);
        throw socketError("connect", e, address);
      }
      return new FfiConnection(fd, address, io);
    },

    listen(
      address: string,
      onConnection: (connection: Connection) => void,
      listenOptions: ListenOptions = {},
    ): Promise<Listener> {
      try {
        const addr = parseAddress(address);
        const io = buffers();
        const fd = newSocket();
        const sa = sockaddr(addr);
        try {
          if (raw.bind(fd, sa.bytes, sa.length) < 0) {
            const e = errno();
            if (e !== C.EADDRINUSE) throw socketError("listen", e, address);
            if (addr.kind === "abstract") {
              throw socketError("listen", e, address, "another server already listens on this abstract name");
            }
            replaceStale(addr.path, probe(addr));
            if (raw.bind(fd, sa.bytes, sa.length) < 0) throw socketError("listen", errno(), address);
          }
          if (raw.listen(fd, 511) < 0) throw socketError("listen", errno(), address);
          let ino = 0;
          if (addr.kind === "path") ino = finishPathSocket(addr.path, listenOptions);
          return Promise.resolve(
            new FfiListener(fd, address, io, onConnection, addr.kind === "path" ? addr.path : undefined, ino),
          );
        } catch (error) {
          raw.close(fd);
          throw error;
        }
      } catch (error) {
        return Promise.reject(error);
      }
    },

    env(name: string): string | undefined {
      return process.env[name];
    },
  };
}

/** The default FFI platform (253 descriptors per message, 64 KiB reads). */
export const nodeFfiPlatform: NodeFfiPlatform = createNodeFfiPlatform();
