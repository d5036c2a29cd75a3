/**
 * Helpers for the Node transport tests (not part of the SDK's API).
 *
 * @module
 */

import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection, ConnectionSink, FdHandle } from "../core/transport.ts";

/** A sink that records everything. */
export class Collector implements ConnectionSink {
  chunks: Uint8Array[] = [];
  fds: FdHandle[] = [];
  length = 0;
  truncations = 0;
  closedError: Error | undefined;
  isClosed = false;
  readonly closedPromise: Promise<Error | undefined>;
  onData?: (chunk: Uint8Array, fds?: FdHandle[]) => void;
  #resolveClosed!: (error: Error | undefined) => void;
  #waiters: { n: number; resolve: () => void }[] = [];

  constructor(onData?: (chunk: Uint8Array, fds?: FdHandle[]) => void) {
    this.onData = onData;
    this.closedPromise = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  data(chunk: Uint8Array, fds?: FdHandle[]): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (fds) this.fds.push(...fds);
    this.onData?.(chunk, fds);
    this.#waiters = this.#waiters.filter((w) => {
      if (this.length >= w.n) w.resolve();
      return this.length < w.n;
    });
  }

  closed(error?: Error): void {
    if (this.isClosed) throw new Error("closed() called twice");
    this.isClosed = true;
    this.closedError = error;
    this.#resolveClosed(error);
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
  }

  fdsTruncated(): void {
    this.truncations++;
  }

  /** Resolves once `n` bytes arrived (or the connection closed). */
  until(n: number, ms = 10_000): Promise<void> {
    if (this.length >= n || this.isClosed) return Promise.resolve();
    return timeout(new Promise<void>((resolve) => this.#waiters.push({ n, resolve })), ms, `${n} bytes`);
  }

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
}

/** Rejects if `promise` does not settle within `ms`. */
export function timeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** A fresh temporary directory and its cleanup. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "clp-node-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A unique abstract address. */
export function abstractAddress(tag: string): string {
  return `@copperline-test/${tag}-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/** Open descriptors of this process. */
export function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Writes and awaits if the connection asks to. */
export async function writeAll(connection: Connection, chunk: Uint8Array, fds?: number[]): Promise<void> {
  const p = connection.write(chunk, fds);
  if (p) await p;
}

/** Sleeps. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
