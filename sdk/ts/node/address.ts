/**
 * Socket addresses as schemas/PROTOCOL.md §1 writes them: `/path` (or any relative path) for a
 * filesystem socket, `@name` for a Linux abstract socket whose name is used with its exact length.
 *
 * @module
 */

/** A parsed address. */
export type SocketAddress =
  | { kind: "path"; path: string; text: string }
  | { kind: "abstract"; name: Uint8Array; text: string };

/** Longest `sun_path` content: 108 bytes minus the terminating (or leading) NUL. */
export const MAX_SUN_PATH = 107;

const encoder = new TextEncoder();

/** Whether `address` names an abstract socket. */
export function isAbstract(address: string): boolean {
  return address.startsWith("@");
}

/** Parses and length-checks an address. Throws a `TypeError` for an unusable one. */
export function parseAddress(address: string): SocketAddress {
  if (typeof address !== "string" || address.length === 0) {
    throw new TypeError("Socket address must be a non-empty string (a path or @name)");
  }
  if (address.startsWith("@")) {
    const name = encoder.encode(address.slice(1));
    if (name.length === 0) throw new TypeError(`Abstract socket address "${address}" has an empty name`);
    if (name.length > MAX_SUN_PATH) {
      throw new TypeError(`Abstract socket name "${address}" is ${name.length} bytes; the limit is ${MAX_SUN_PATH}`);
    }
    return { kind: "abstract", name, text: address };
  }
  if (address.includes("\0")) throw new TypeError(`Socket path "${address}" contains a NUL byte`);
  const len = encoder.encode(address).length;
  if (len > MAX_SUN_PATH) {
    throw new TypeError(`Socket path "${address}" is ${len} bytes; the limit is ${MAX_SUN_PATH}`);
  }
  return { kind: "path", path: address, text: address };
}
