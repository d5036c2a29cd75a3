/**
 * An in-memory {@linkcode Platform} for unit tests: connected pairs of byte pipes with FD passing
 * simulated by handing over handle objects. Never the only proof: the real transports are tested
 * over real sockets.
 *
 * @module
 */

import type { Connection, ConnectionSink, FdHandle, Listener, Platform } from "./transport.ts";

/** A fake descriptor for in-memory tests: a number and a closed flag. */
export class MemoryFd implements FdHandle {
  static #next = 1000;
  /** Every MemoryFd still open, to check for leaks in tests. */
  static readonly open: Set<MemoryFd> = new Set();
  #fd: number;
  #closed = false;
  #kept = false;
  /** Optional content, for tests that check what "arrived". */
  readonly content: Uint8Array | undefined;

  /** @param content Bytes this fake descriptor stands for. */
  constructor(content?: Uint8Array) {
    this.#fd = MemoryFd.#next++;
    this.content = content;
    MemoryFd.open.add(this);
  }
  get fd(): number {
    if (this.#closed) throw new TypeError("Cannot use a closed descriptor");
    return this.#fd;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get kept(): boolean {
    return this.#kept;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    MemoryFd.open.delete(this);
  }
  take(): number {
    const fd = this.fd;
    this.#closed = true;
    MemoryFd.open.delete(this);
    return fd;
  }
  keep(): FdHandle {
    this.#kept = true;
    return this;
  }
  [Symbol.dispose](): void {
    this.close();
  }
  /** @internal A copy "received" by the peer (the kernel would dup it). */
  static byNumber: Map<number, MemoryFd> = new Map();
}

class MemoryConnection implements Connection {
  readonly fdPassing = true;
  peer!: MemoryConnection;
  #sink: ConnectionSink | undefined;
  #early: [Uint8Array, FdHandle[] | undefined][] = [];
  #closed = false;

  start(sink: ConnectionSink): void {
    this.#sink = sink;
    for (const [c, f] of this.#early) sink.data(c, f);
    this.#early = [];
    if (this.#closed) sink.closed();
  }

  write(chunk: Uint8Array, fds?: readonly number[]): void {
    if (this.#closed) throw new Error("Cannot write: the connection is closed");
    const copy = chunk.slice();
    const handed = fds?.map((n) => {
      const orig = MemoryFd.byNumber.get(n);
      const dup = new MemoryFd(orig?.content);
      MemoryFd.byNumber.set(dup.fd, dup);
      return dup as FdHandle;
    });
    queueMicrotask(() => this.peer.#receive(copy, handed));
  }

  #receive(chunk: Uint8Array, fds: FdHandle[] | undefined): void {
    if (this.#closed) {
      fds?.forEach((f) => f.close());
      return;
    }
    if (this.#sink) this.#sink.data(chunk, fds);
    else this.#early.push([chunk, fds]);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    queueMicrotask(() => {
      this.#sink?.closed();
      this.peer.#peerClosed();
    });
  }

  #peerClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink?.closed();
  }
}

/** Creates a connected pair of in-memory connections. */
export function memoryPair(): [Connection, Connection] {
  const a = new MemoryConnection();
  const b = new MemoryConnection();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** Registers a MemoryFd so a write can find its content by number. */
export function memoryFd(content?: Uint8Array): MemoryFd {
  const fd = new MemoryFd(content);
  MemoryFd.byNumber.set(fd.fd, fd);
  return fd;
}

/** An in-memory platform: addresses are plain names in a process-wide table. */
export const memoryPlatform: Platform = {
  name: "memory",
  connect(address: string): Promise<Connection> {
    const l = listeners.get(address);
    if (!l) return Promise.reject(Object.assign(new Error(`Cannot connect to "${address}": no such listener`), { code: "ENOENT" }));
    const [a, b] = memoryPair();
    l(b);
    return Promise.resolve(a);
  },
  listen(address: string, onConnection: (c: Connection) => void): Promise<Listener> {
    if (listeners.has(address)) {
      return Promise.reject(Object.assign(new Error(`Address "${address}" is already in use`), { code: "EADDRINUSE" }));
    }
    listeners.set(address, onConnection);
    return Promise.resolve({
      address,
      close() {
        listeners.delete(address);
        return Promise.resolve();
      },
    });
  },
  env: () => undefined,
};

const listeners = new Map<string, (c: Connection) => void>();
