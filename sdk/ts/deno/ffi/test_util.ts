/**
 * Internal test helpers for the FFI transport tests (not part of the public surface).
 *
 * @module
 */

import type { Connection, FdHandle } from "../../core/transport.ts";
import type { FfiConnectionSink } from "./connection.ts";
import { AF_UNIX, libc, SOCK_CLOEXEC, SOCK_STREAM } from "./libc.ts";
import { sockaddrUn } from "./platform.ts";
import { reactor, reactorIdle } from "./reactor.ts";

/** A sink that collects bytes and descriptors, with promises to wait on. */
export class Collector implements FfiConnectionSink {
  chunks: Uint8Array[] = [];
  fds: FdHandle[] = [];
  length = 0;
  truncations = 0;
  closedWith: Error | undefined | null = null;
  #waiters: { bytes: number; resolve: () => void }[] = [];
  #closedResolve!: () => void;
  /** Resolves when `closed()` was called. */
  readonly closedPromise = new Promise<void>((resolve) => (this.#closedResolve = resolve));
  closedCalls = 0;

  data(chunk: Uint8Array, fds?: FdHandle[]): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (fds) this.fds.push(...fds);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.length >= w.bytes) w.resolve();
      return this.length < w.bytes;
    });
  }
  fdsTruncated(): void {
    this.truncations++;
  }
  closed(error?: Error): void {
    this.closedCalls++;
    this.closedWith = error;
    this.#closedResolve();
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }
  /** Resolves once `bytes` bytes arrived (or the connection closed). */
  waitBytes(bytes: number): Promise<void> {
    if (this.length >= bytes || this.closedWith !== null) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ bytes, resolve }));
  }
  /** Everything received so far, concatenated. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
  text(): string {
    return new TextDecoder().decode(this.bytes());
  }
  closeFds(): void {
    for (const h of this.fds) h.close();
  }
}

/** Starts `connection` with a new collector. */
export function collect(connection: Connection): Collector {
  const c = new Collector();
  connection.start(c);
  return c;
}

/** Number of open descriptors of this process. */
export function openFds(): number {
  reactor(); // its epoll fd and eventfd exist for the whole process once created
  let n = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
  return n;
}

/** A fresh temporary directory (removed by the returned disposer). */
export function tempDir(): { path: string; [Symbol.dispose](): void } {
  const path = Deno.makeTempDirSync({ prefix: "ffi-test-" });
  return {
    path,
    [Symbol.dispose]() {
      Deno.removeSync(path, { recursive: true });
    },
  };
}

/** A unique abstract address. */
export function abstractAddress(label: string): string {
  return `@copperline-ffi-test/${label}/${Deno.pid}/${crypto.randomUUID()}`;
}

/** Resolves `promise` or rejects after `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

export const encode = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Leaves a stale socket file at `path`: bound, never listening, closed. */
export function makeStaleSocket(path: string): void {
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const { addr, length } = sockaddrUn(path);
  const r = c.bind(fd, addr, length);
  c.close(fd);
  if (r < 0) throw new Error(`bind ${path} failed`);
}

/** Waits (at most 5 s) until the reactor stopped: everything the test opened is closed. */
export function idle(): Promise<void> {
  return within(reactorIdle(), 5000, "reactor idle (something left open?)");
}
