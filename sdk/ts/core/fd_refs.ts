/**
 * Conversion between FD handles in values and `{"fd_index": i}` references on the wire
 * (schemas/PROTOCOL.md §7).
 *
 * @module
 */

import type { FdHandle } from "./transport.ts";

/** Whether `value` looks like an {@linkcode FdHandle} (any implementation). */
export function isFdHandle(value: unknown): value is FdHandle {
  return value !== null && typeof value === "object" &&
    typeof (value as FdHandle).take === "function" &&
    typeof (value as FdHandle).keep === "function" && "closed" in (value as object);
}

function isFdRef(value: Record<string, unknown>): boolean {
  if (typeof value.fd_index !== "number") return false;
  for (const k in value) if (k !== "fd_index") return false;
  return true;
}

/**
 * Replaces every FD handle inside `value` by `{fd_index: i}` and returns the new value plus the
 * descriptor numbers in index order. `value` itself is not modified.
 *
 * @param value Arguments, a result or an event payload.
 * @returns The wire value and the descriptors to send with it.
 */
export function encodeFds(value: unknown): { value: unknown; fds: number[] } {
  const fds: number[] = [];
  const seen = new Map<FdHandle, number>();
  const walk = (v: unknown): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (isFdHandle(v)) {
      let i = seen.get(v);
      if (i === undefined) {
        i = fds.length;
        fds.push(v.fd);
        seen.set(v, i);
      }
      return { fd_index: i };
    }
    if (Array.isArray(v)) return v.map(walk);
    const out: Record<string, unknown> = {};
    for (const k in v as Record<string, unknown>) out[k] = walk((v as Record<string, unknown>)[k]);
    return out;
  };
  const encoded = walk(value);
  return { value: encoded, fds };
}

/**
 * Replaces every `{fd_index: i}` inside `value` (in place) by `fds[i]`. Returns an error message
 * if an index is out of range. Handles that no reference claimed are reported in `unused`.
 *
 * @param value A decoded value (modified in place).
 * @param fds The descriptors that came with the message.
 * @returns `{ value, error?, unused }`.
 */
export function decodeFds(
  value: unknown,
  fds: readonly FdHandle[],
): { value: unknown; error?: string; unused: FdHandle[] } {
  const used = new Set<number>();
  let error: string | undefined;
  const walk = (v: unknown, path: string): unknown => {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) v[i] = walk(v[i], `${path}/${i}`);
      return v;
    }
    const o = v as Record<string, unknown>;
    if (isFdRef(o)) {
      const i = o.fd_index as number;
      if (!Number.isInteger(i) || i < 0 || i >= fds.length) {
        error ??= `${path || "/"}: fd_index ${i} is out of range (${fds.length} descriptors sent)`;
        return v;
      }
      used.add(i);
      return fds[i];
    }
    for (const k in o) o[k] = walk(o[k], `${path}/${k}`);
    return o;
  };
  const decoded = walk(value, "");
  const unused = fds.filter((_, i) => !used.has(i));
  return { value: decoded, error, unused };
}

/**
 * Closes every FD handle inside `value` (used when a value that holds descriptors is discarded).
 *
 * @param value Any value.
 * @returns How many handles were closed.
 */
export function closeFdHandles(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  if (isFdHandle(value)) {
    value.close();
    return 1;
  }
  let n = 0;
  for (const k in value as Record<string, unknown>) n += closeFdHandles((value as Record<string, unknown>)[k]);
  return n;
}
