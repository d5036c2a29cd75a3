/**
 * Node-style system errors for the Node transports: `code` (`ENOENT`), negative `errno`,
 * `syscall` and `address`, with a message that says what to do.
 *
 * @module
 */

import { getSystemErrorMap } from "node:util";

/** An error from a socket system call. */
export interface SocketError extends Error {
  /** The errno name, e.g. `ENOENT`, `EADDRINUSE`, `EPIPE`. */
  code: string;
  /** The negative errno, as Node reports it (`-2` for `ENOENT`). */
  errno: number;
  /** The failing call: `connect`, `listen`, `write`, `read`, … */
  syscall: string;
  /** The socket address involved, if any. */
  address?: string;
}

let errorMap: Map<number, [string, string]> | undefined;

/** `[name, description]` of a positive errno (`2` → `["ENOENT", "no such file or directory"]`). */
export function errnoInfo(errno: number): [string, string] {
  errorMap ??= getSystemErrorMap();
  return errorMap.get(-Math.abs(errno)) ?? [`E${Math.abs(errno)}`, `error ${Math.abs(errno)}`];
}

/** Positive errno of a name (`"EAGAIN"` → 11), or 0. */
export function errnoOf(code: string): number {
  errorMap ??= getSystemErrorMap();
  for (const [n, [name]] of errorMap) if (name === code) return -n;
  return 0;
}

const HINTS: Record<string, string> = {
  ENOENT: "no socket at this address; is the service running?",
  ECONNREFUSED: "nobody accepts connections at this address (stale socket file?)",
  EACCES: "permission denied; check the socket's mode and group",
  EPIPE: "the peer closed the connection",
  ECONNRESET: "the peer reset the connection",
};

/**
 * Builds a {@linkcode SocketError}.
 *
 * @param syscall The failing call.
 * @param errno Positive errno, or an errno name.
 * @param address The address involved.
 * @param detail Replaces the default explanation.
 */
export function socketError(
  syscall: string,
  errno: number | string,
  address?: string,
  detail?: string,
): SocketError {
  const num = typeof errno === "number" ? Math.abs(errno) : errnoOf(errno);
  const [code, description] = typeof errno === "number" ? errnoInfo(num) : [errno, errnoInfo(num)[1]];
  const why = detail ?? HINTS[code] ?? description;
  const where = address !== undefined ? ` ${address}` : "";
  const err = new Error(`${syscall} ${code}${where}: ${why}`) as SocketError;
  err.code = code;
  err.errno = -num;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  return err;
}

/** The error `write` raises on a connection that is already closed. */
export function closedError(address?: string): SocketError {
  return socketError("write", "EPIPE", address, "the connection is closed");
}
