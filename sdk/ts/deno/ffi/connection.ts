/**
 * The FD-capable {@linkcode Connection} of the FFI transport: a non-blocking `AF_UNIX` stream
 * socket owned through libc, driven by the process-wide {@linkcode Reactor}.
 *
 * Reads: on readiness, `recvmsg(MSG_DONTWAIT | MSG_CMSG_CLOEXEC)` into a shared 64 KiB buffer with a
 * control buffer sized for the connection's `maxFdsPerMessage` (default 253 = `SCM_MAX_FD`, so
 * nothing legitimate is ever truncated). Every `SCM_RIGHTS` message is parsed; the bytes are copied
 * and delivered with the descriptors as `sink.data(chunk, fds)`.
 *
 * Control truncation (`MSG_CTRUNC`: the peer sent more descriptors than the control buffer holds):
 * the descriptors that did arrive are closed, {@linkcode FfiConnection.fdsTruncated} is
 * incremented, the sink's optional `fdsTruncated()` method (see {@linkcode FfiConnectionSink}) is
 * called, and then the bytes are delivered with no descriptors. The protocol treats this as `BAD_FD`
 * for the next line (PROTOCOL.md §7).
 *
 * Writes: `sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL)`, descriptors attached to the first call only, the
 * rest of a partial write continued without them; `EAGAIN` waits for `EPOLLOUT`; writes issued while
 * one is pending are queued in order.
 *
 * @module
 */

import type { Connection, ConnectionSink, FdHandle } from "../../core/transport.ts";
import { LibcFdHandle } from "./fd_handle.ts";
import {
  addressOf,
  alloc,
  EAGAIN,
  EBADF,
  EINTR,
  EINVAL,
  EPIPE,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  errno,
  type ErrnoError,
  errnoError,
  ETOOMANYREFS,
  libc,
  type LibcSymbols,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SCM_MAX_FD,
  SCM_RIGHTS,
  SO_PEERCRED,
  SOL_SOCKET,
} from "./libc.ts";
import { type Reactor, reactor } from "./reactor.ts";

/** Bytes read per `recvmsg`. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Bytes offered per `sendmsg` (larger chunks are sent in several calls). */
export const SEND_BUFFER_SIZE = 256 * 1024;
/** Default receive limit on descriptors per message: the kernel cap, so nothing is truncated. */
export const DEFAULT_MAX_FDS_PER_MESSAGE: number = SCM_MAX_FD;
const READS_PER_EVENT = 8;
const CMSG_HDR = 16;

function cmsgSpace(fds: number): number {
  return CMSG_HDR + ((fds * 4 + 7) & ~7);
}

/** Options of an FFI connection (accepted by `ffiPlatform.connect` and `listen`). */
export interface FfiConnectionOptions {
  /**
   * Most descriptors accepted in one received message (0–253, default 253). More than that sets
   * `MSG_CTRUNC`: the excess is dropped by the kernel and what arrived is closed.
   */
  maxFdsPerMessage?: number;
}

/**
 * A {@linkcode ConnectionSink} that also wants to hear about control-message truncation. Proposed
 * optional addition to the contract; sinks without it still see `connection.fdsTruncated`.
 */
export interface FfiConnectionSink extends ConnectionSink {
  /** Called before the `data()` of a chunk whose descriptors were truncated (and closed). */
  fdsTruncated?(): void;
}

/** The shared, main-thread-only buffers for `recvmsg`/`sendmsg` (all calls are synchronous). */
class MessageIo {
  readonly #c: LibcSymbols;
  readonly readBuffer = alloc(READ_BUFFER_SIZE);
  readonly #rIov = alloc(16);
  readonly #rCtl = alloc(cmsgSpace(SCM_MAX_FD));
  readonly #rCtlView = new DataView(this.#rCtl.buffer);
  readonly #rMsg = alloc(56);
  readonly #rMsgView = new DataView(this.#rMsg.buffer);
  readonly #sBuf = alloc(SEND_BUFFER_SIZE);
  readonly #sIov = alloc(16);
  readonly #sIovView = new DataView(this.#sIov.buffer);
  readonly #sCtl = alloc(cmsgSpace(SCM_MAX_FD));
  readonly #sCtlView = new DataView(this.#sCtl.buffer);
  readonly #sMsg = alloc(56);
  readonly #sMsgView = new DataView(this.#sMsg.buffer);
  /** Descriptors of the last `recv` (owned by the caller), or undefined. */
  fds: number[] | undefined;
  /** Whether the last `recv` had `MSG_CTRUNC`. */
  truncated = false;

  constructor(c: LibcSymbols) {
    this.#c = c;
    const riov = new DataView(this.#rIov.buffer);
    riov.setBigUint64(0, addressOf(this.readBuffer), true);
    riov.setBigUint64(8, BigInt(READ_BUFFER_SIZE), true);
    const rm = this.#rMsgView;
    rm.setBigUint64(16, addressOf(this.#rIov), true);
    rm.setBigUint64(24, 1n, true);
    rm.setBigUint64(32, addressOf(this.#rCtl), true);
    this.#sIovView.setBigUint64(0, addressOf(this.#sBuf), true);
    const sm = this.#sMsgView;
    sm.setBigUint64(16, addressOf(this.#sIov), true);
    sm.setBigUint64(24, 1n, true);
    sm.setBigUint64(32, addressOf(this.#sCtl), true);
    this.#sCtlView.setInt32(8, SOL_SOCKET, true);
    this.#sCtlView.setInt32(12, SCM_RIGHTS, true);
  }

  /** One `recvmsg`. Returns the byte count (0 = EOF) or `-errno`; sets `fds` and `truncated`. */
  recv(fd: number, maxFds: number): number {
    const m = this.#rMsgView;
    m.setBigUint64(40, BigInt(maxFds > 0 ? cmsgSpace(maxFds) : 0), true);
    m.setInt32(48, 0, true);
    const n = this.#c.recvmsg(fd, this.#rMsg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      const e = errno();
      this.fds = undefined;
      this.truncated = false;
      return -e;
    }
    this.truncated = (m.getInt32(48, true) & MSG_CTRUNC) !== 0;
    const controlLength = Number(m.getBigUint64(40, true));
    let fds: number[] | undefined;
    const v = this.#rCtlView;
    for (let off = 0; off + CMSG_HDR <= controlLength;) {
      const len = Number(v.getBigUint64(off, true));
      if (len < CMSG_HDR || off + len > controlLength) break;
      if (v.getInt32(off + 8, true) === SOL_SOCKET && v.getInt32(off + 12, true) === SCM_RIGHTS) {
        const count = (len - CMSG_HDR) >> 2;
        fds ??= [];
        for (let i = 0; i < count; i++) fds.push(v.getInt32(off + CMSG_HDR + 4 * i, true));
      }
      off += (len + 7) & ~7;
    }
    this.fds = fds;
    return n;
  }

  /** One `sendmsg` of `chunk[offset..]` (at most SEND_BUFFER_SIZE). Returns bytes sent or `-errno`. */
  send(fd: number, chunk: Uint8Array, offset: number, fds: readonly number[] | undefined): number {
    const len = Math.min(chunk.length - offset, SEND_BUFFER_SIZE);
    this.#sBuf.set(
      offset === 0 && len === chunk.length ? chunk : chunk.subarray(offset, offset + len),
    );
    this.#sIovView.setBigUint64(8, BigInt(len), true);
    const m = this.#sMsgView;
    if (fds !== undefined && fds.length > 0) {
      const v = this.#sCtlView;
      v.setBigUint64(0, BigInt(CMSG_HDR + 4 * fds.length), true);
      for (let i = 0; i < fds.length; i++) v.setInt32(CMSG_HDR + 4 * i, fds[i], true);
      m.setBigUint64(40, BigInt(cmsgSpace(fds.length)), true);
    } else {
      m.setBigUint64(40, 0n, true);
    }
    const n = this.#c.sendmsg(fd, this.#sMsg, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n < 0 ? -errno() : n;
  }
}

let io: MessageIo | undefined;
function messageIo(): MessageIo {
  return io ??= new MessageIo(libc());
}

interface PendingWrite {
  chunk: Uint8Array;
  offset: number;
  fds: readonly number[] | undefined;
  /** Whether `fds` still have to go (with the next `sendmsg` that moves bytes). */
  fdsPending: boolean;
  resolve?: () => void;
  reject?: (error: Error) => void;
}

function closedError(): ErrnoError {
  return errnoError(EPIPE, "Cannot write: the connection is closed");
}

/**
 * A connected FD-capable Unix stream socket. Create through `ffiPlatform.connect`/`listen`, or wrap
 * a connected non-blocking socket descriptor you own with `new FfiConnection(fd)`.
 */
export class FfiConnection implements Connection {
  /** Always true: this connection passes descriptors with SCM_RIGHTS. */
  readonly fdPassing = true;
  /** How many received messages had their descriptors truncated (`MSG_CTRUNC`). */
  fdsTruncated = 0;
  readonly #reactor: Reactor;
  readonly #io: MessageIo;
  #fd: number;
  #token = 0;
  #interest = 0;
  #sink: FfiConnectionSink | undefined;
  #started = false;
  #closed = false;
  #eof = false;
  #closedNotified = false;
  #closeError: Error | undefined;
  #ref = true;
  #alive = false;
  #maxFds: number;
  #queue: PendingWrite[] = [];

  /** Takes ownership of `fd`, a connected, non-blocking, close-on-exec stream socket. */
  constructor(fd: number, options: FfiConnectionOptions = {}) {
    this.#reactor = reactor();
    this.#io = messageIo();
    this.#fd = fd;
    this.#maxFds = DEFAULT_MAX_FDS_PER_MESSAGE;
    if (options.maxFdsPerMessage !== undefined) this.maxFdsPerMessage = options.maxFdsPerMessage;
  }

  /** The socket descriptor (-1 once closed). For diagnostics only: do not read or close it. */
  get fd(): number {
    return this.#fd;
  }

  /** Whether `close()` was called or the connection ended. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Most descriptors accepted per received message (0–253). */
  get maxFdsPerMessage(): number {
    return this.#maxFds;
  }
  set maxFdsPerMessage(value: number) {
    if (!Number.isInteger(value) || value < 0 || value > SCM_MAX_FD) {
      throw new RangeError(`maxFdsPerMessage must be an integer from 0 to ${SCM_MAX_FD}`);
    }
    this.#maxFds = value;
  }

  /**
   * The peer's credentials at connect time (`SO_PEERCRED`): process id, user id, group id. Throws
   * once the connection is closed.
   */
  peerCredentials(): { pid: number; uid: number; gid: number } {
    if (this.#closed) throw closedError();
    const cred = alloc(12);
    const len = alloc(4);
    new DataView(len.buffer).setUint32(0, 12, true);
    if (libc().getsockopt(this.#fd, SOL_SOCKET, SO_PEERCRED, cred, len) < 0) {
      throw errnoError(errno(), "Cannot read peer credentials");
    }
    const v = new DataView(cred.buffer);
    return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
  }

  /** Starts reading into `sink` (once). */
  start(sink: ConnectionSink): void {
    if (this.#started) throw new Error("Connection already started");
    this.#started = true;
    this.#sink = sink;
    if (this.#closed) {
      queueMicrotask(() => this.#notifyClosed());
      return;
    }
    this.#update();
  }

  /** Lets a started connection keep the process alive (`true`, default) or not. */
  ref(keepAlive: boolean): void {
    this.#ref = keepAlive;
    this.#update();
  }

  /**
   * Writes all of `chunk`, attaching `fds` (borrowed until the result settles) to its first byte.
   * Returns `undefined` when written synchronously, else a promise. Throws if the connection is
   * closed or the write fails at once (`.code` = errno name, e.g. `"EPIPE"`).
   */
  write(chunk: Uint8Array, fds?: readonly number[]): Promise<void> | void {
    if (this.#closed) throw this.#closeError ?? closedError();
    const withFds = fds !== undefined && fds.length > 0 ? fds : undefined;
    if (withFds !== undefined) {
      if (withFds.length > SCM_MAX_FD) {
        throw new RangeError(
          `Cannot send ${withFds.length} descriptors in one message (max ${SCM_MAX_FD})`,
        );
      }
      if (chunk.length === 0) {
        throw new TypeError("Descriptors need at least one byte to travel with");
      }
    }
    if (chunk.length === 0) return;
    const w: PendingWrite = { chunk, offset: 0, fds: withFds, fdsPending: withFds !== undefined };
    if (this.#queue.length === 0) {
      const error = this.#send(w);
      if (error !== undefined) throw error;
      if (w.offset === chunk.length) return;
      if (this.#closed) throw this.#closeError ?? closedError();
    }
    // Queued: keep private copies, so the caller may reuse its buffer and array right away.
    w.chunk = chunk.slice(w.offset);
    w.offset = 0;
    if (w.fds !== undefined) w.fds = w.fds.slice();
    const promise = new Promise<void>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
    });
    this.#queue.push(w);
    this.#update();
    return promise;
  }

  /** Closes the socket (idempotent); pending writes fail and `sink.closed()` follows. */
  close(): void {
    this.#teardown(undefined);
  }

  /**
   * Sends as much of `w` as the socket takes. Returns an error that concerns only this write (a bad
   * descriptor to pass); a connection failure tears the connection down and returns its error.
   */
  #send(w: PendingWrite): Error | undefined {
    while (w.offset < w.chunk.length) {
      const fds = w.fdsPending ? w.fds : undefined;
      const n = this.#io.send(this.#fd, w.chunk, w.offset, fds);
      if (n >= 0) {
        if (n > 0) w.fdsPending = false;
        w.offset += n;
        continue;
      }
      const e = -n;
      if (e === EINTR) continue;
      if (e === EAGAIN) return undefined;
      if (
        fds !== undefined && w.offset === 0 && (e === EBADF || e === ETOOMANYREFS || e === EINVAL)
      ) {
        // Nothing was sent: only this write fails (e.g. a closed descriptor was passed).
        w.offset = -1;
        return errnoError(e, `Cannot send descriptors ${JSON.stringify(fds)}`);
      }
      const error = errnoError(e, "Cannot write to the connection");
      this.#teardown(error);
      return error;
    }
    return undefined;
  }

  #flush(): void {
    const q = this.#queue;
    while (q.length > 0 && !this.#closed) {
      const w = q[0];
      const error = this.#send(w);
      if (w.offset === -1) {
        q.shift();
        w.reject!(error!);
        continue;
      }
      if (this.#closed) return; // teardown rejected the queue
      if (w.offset < w.chunk.length) break;
      q.shift();
      w.resolve!();
    }
    this.#update();
  }

  /** Reactor callback. */
  onEvents(events: number): void {
    if (this.#closed) return;
    if (this.#queue.length > 0 && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) !== 0) this.#flush();
    if (!this.#started) return;
    if (this.#eof) {
      // Half-closed: only the peer's complete close matters now. (EPOLLIN/EPOLLRDHUP may still come
      // from a wait that began before the interest changed.)
      if ((events & (EPOLLERR | EPOLLHUP)) !== 0) this.#teardown(undefined, true);
    } else if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) !== 0) {
      this.#read();
    }
  }

  #read(): void {
    const io = this.#io;
    for (let i = 0; i < READS_PER_EVENT && !this.#closed; i++) {
      const n = io.recv(this.#fd, this.#maxFds);
      if (n < 0) {
        const e = -n;
        if (e === EINTR) continue;
        if (e === EAGAIN) return;
        this.#teardown(errnoError(e, "Cannot read from the connection"), true);
        return;
      }
      if (n === 0) {
        if (!this.#eof && this.#sink!.ended) {
          // Half-closed by the peer: stop reading, keep writing. The socket stays registered for
          // EPOLLHUP, which comes when the peer closes completely; then (or on close()) it ends.
          this.#eof = true;
          this.#update();
          this.#sink!.ended();
          return;
        }
        this.#teardown(undefined, true);
        return;
      }
      const chunk = io.readBuffer.slice(0, n);
      let handles: FdHandle[] | undefined;
      const sink = this.#sink!;
      try {
        if (io.truncated) {
          if (io.fds !== undefined) { for (const fd of io.fds) libc().close(fd); }
          this.fdsTruncated++;
          sink.fdsTruncated?.();
        } else if (io.fds !== undefined) {
          handles = io.fds.map((fd) => new LibcFdHandle(fd));
        }
        sink.data(chunk, handles);
      } catch (error) {
        this.#teardown(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (n < READ_BUFFER_SIZE) return; // drained (level-triggered: more data re-reports)
    }
  }

  /** Brings the epoll interest set and the keep-alive count in line with the state. */
  #update(): void {
    const r = this.#reactor;
    let interest = 0;
    if (!this.#closed) {
      if (this.#started) interest |= this.#eof ? EPOLLHUP : EPOLLIN | EPOLLRDHUP;
      if (this.#queue.length > 0) interest |= EPOLLOUT;
    }
    if (interest !== this.#interest) {
      if (this.#interest === 0) this.#token = r.add(this.#fd, interest, this);
      else if (interest === 0) r.remove(this.#fd, this.#token);
      else r.modify(this.#fd, this.#token, interest);
      this.#interest = interest;
    }
    const alive = !this.#closed && ((this.#started && this.#ref) || this.#queue.length > 0);
    if (alive !== this.#alive) {
      this.#alive = alive;
      r.keep(alive ? 1 : -1);
    }
  }

  /**
   * Closes the socket and tells the sink. From the reactor's read path (`notifyNow`) the sink hears
   * it at once, so the server ends that session (its subscriptions included) before the reactor
   * serves another socket in the same dispatch; from user calls it hears it in a microtask.
   */
  #teardown(error: Error | undefined, notifyNow = false): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    const queue = this.#queue;
    this.#queue = [];
    this.#update();
    libc().close(this.#fd);
    this.#fd = -1;
    if (queue.length > 0) {
      const e = error ?? closedError();
      for (const w of queue) w.reject!(e);
    }
    if (!this.#started) return;
    if (notifyNow) this.#notifyClosed();
    else queueMicrotask(() => this.#notifyClosed());
  }

  #notifyClosed(): void {
    if (this.#closedNotified) return;
    this.#closedNotified = true;
    this.#sink!.closed(this.#closeError);
  }
}
