/**
 * {@linkcode FdHandle} for raw descriptors on Node (closed with libc `close`).
 *
 * @module
 */

import { disposeSymbol } from "../dispose.ts";
import type { FdHandle } from "../../core/transport.ts";
import { raw } from "./libc.ts";

/** An owned descriptor. See {@linkcode FdHandle}. */
export class NodeFdHandle implements FdHandle {
  #fd: number;
  #closed = false;
  #kept = false;

  /** @param fd A descriptor the new handle owns. */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`Invalid file descriptor ${fd}`);
    this.#fd = fd;
  }

  get fd(): number {
    if (this.#closed) throw new TypeError(`File descriptor handle is closed (was ${this.#fd})`);
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
    raw.close(this.#fd);
  }

  take(): number {
    const fd = this.fd;
    this.#closed = true;
    return fd;
  }

  keep(): FdHandle {
    this.#kept = true;
    return this;
  }

  [disposeSymbol](): void {
    this.close();
  }

  /** For `console.log`. */
  toString(): string {
    return this.#closed ? "FdHandle(closed)" : `FdHandle(${this.#fd})`;
  }
}
