/**
 * {@linkcode FdHandle} backed by a raw descriptor closed through libc `close(2)`.
 *
 * @module
 */

import type { FdHandle } from "../../core/transport.ts";
import { libc } from "./libc.ts";

/**
 * An owned descriptor. `close()` calls libc `close` once (idempotent); `take()` hands the number
 * over without closing it; `fd` throws a `TypeError` once the handle is closed or taken.
 *
 * ```ts ignore
 * using handle = new LibcFdHandle(fd);
 * doSomething(handle.fd);
 * ```
 */
export class LibcFdHandle implements FdHandle {
  #fd: number;
  #kept = false;

  /** Wraps (and takes ownership of) the descriptor `fd`. */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`Invalid file descriptor: ${fd}`);
    this.#fd = fd;
  }

  /** The descriptor number. Throws a `TypeError` after `close()` or `take()`. */
  get fd(): number {
    if (this.#fd < 0) throw new TypeError("File descriptor handle is closed");
    return this.#fd;
  }

  /** Whether the handle no longer owns a descriptor. */
  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Whether `keep()` was called. */
  get kept(): boolean {
    return this.#kept;
  }

  /** Closes the descriptor through libc. Idempotent. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    // close(2) releases the descriptor even when it reports EINTR/EIO on Linux: never retry.
    libc().close(fd);
  }

  /** Gives up ownership and returns the descriptor number; the caller must close it. */
  take(): number {
    const fd = this.fd;
    this.#fd = -1;
    return fd;
  }

  /** Marks the handle as kept by a handler (the runtime will not close it). Returns the handle. */
  keep(): FdHandle {
    this.#kept = true;
    return this;
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** A short description for logs. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.#fd < 0 ? "FdHandle(closed)" : `FdHandle(${this.#fd})`;
  }
}

/** Wraps an owned descriptor number in an {@linkcode FdHandle}. */
export function fdHandle(fd: number): FdHandle {
  return new LibcFdHandle(fd);
}
