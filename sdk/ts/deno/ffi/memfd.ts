/**
 * Small helpers for anonymous shared memory (`memfd_create`) and positional reads and writes on any
 * descriptor held by an {@linkcode FdHandle}. Typical use: create a buffer, fill it, pass it with a
 * request; or read the contents of a descriptor received in a response.
 *
 * ```ts ignore
 * using buf = createMemfd("frame", 4096);
 * writeFd(buf, new TextEncoder().encode("hello"));
 * await connection.write(line, [buf.fd]);
 * ```
 *
 * All calls are synchronous (they touch memory-backed files). Linux only; needs `--allow-ffi`.
 *
 * @module
 */

import type { FdHandle } from "../../core/transport.ts";
import { LibcFdHandle } from "./fd_handle.ts";
import {
  alloc,
  cString,
  EINTR,
  errno,
  errnoError,
  libc,
  MFD_CLOEXEC,
  STAT_BUFFER_SIZE,
  STAT_SIZE_OFFSET,
} from "./libc.ts";

const CHUNK = 1 << 20;

/**
 * Creates an anonymous memory file (`memfd_create`, close-on-exec) of `size` bytes, zero-filled.
 *
 * @param name A label shown in `/proc/<pid>/fd` (`memfd:<name>`); at most 249 bytes.
 * @param size The initial size in bytes (default 0).
 * @returns An owned handle: close it (or `using`) when done.
 * @throws An errno error (`.code`) when the kernel refuses.
 */
export function createMemfd(name: string, size = 0): FdHandle {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid memfd size: ${size}`);
  const c = libc();
  const fd = c.memfd_create(cString(name), MFD_CLOEXEC);
  if (fd < 0) throw errnoError(errno(), `Cannot create memfd "${name}"`);
  const handle = new LibcFdHandle(fd);
  if (size > 0) {
    if (c.ftruncate(fd, BigInt(size)) < 0) {
      const e = errno();
      handle.close();
      throw errnoError(e, `Cannot resize memfd "${name}" to ${size} bytes`);
    }
  }
  return handle;
}

/**
 * Writes all of `bytes` at `offset` (`pwrite`; the file offset is not moved). A file grows as
 * needed, unless it is sealed.
 *
 * @param handle The descriptor to write to.
 * @param bytes The bytes to write.
 * @param offset The position in the file (default 0).
 * @throws An errno error (`.code`), or a `TypeError` if the handle is closed.
 */
export function writeFd(handle: FdHandle, bytes: Uint8Array, offset = 0): void {
  const fd = handle.fd;
  const c = libc();
  const buffer = alloc(Math.min(bytes.length, CHUNK));
  let done = 0;
  while (done < bytes.length) {
    const n = Math.min(bytes.length - done, buffer.length);
    buffer.set(bytes.subarray(done, done + n));
    const r = c.pwrite(fd, buffer, BigInt(n), BigInt(offset + done));
    if (r < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw errnoError(e, `Cannot write to descriptor ${fd}`);
    }
    if (r === 0) throw new Error(`Cannot write to descriptor ${fd}: no progress`);
    done += r;
  }
}

/**
 * Reads up to `length` bytes at `offset` (`pread`; the file offset is not moved). Returns fewer
 * bytes when the file ends first.
 *
 * @param handle The descriptor to read from.
 * @param length How many bytes to read at most.
 * @param offset The position in the file (default 0).
 * @returns A new array holding the bytes read.
 * @throws An errno error (`.code`), or a `TypeError` if the handle is closed.
 */
export function readFd(handle: FdHandle, length: number, offset = 0): Uint8Array {
  const fd = handle.fd;
  const c = libc();
  const out = alloc(length);
  const buffer = alloc(Math.min(length, CHUNK));
  let done = 0;
  while (done < length) {
    const want = Math.min(length - done, buffer.length);
    const r = c.pread(fd, buffer, BigInt(want), BigInt(offset + done));
    if (r < 0) {
      const e = errno();
      if (e === EINTR) continue;
      throw errnoError(e, `Cannot read from descriptor ${fd}`);
    }
    if (r === 0) break;
    out.set(buffer.subarray(0, r), done);
    done += r;
  }
  return done === length ? out : out.slice(0, done);
}

/**
 * The size in bytes of the file behind `handle` (`fstat`; the file offset is not moved).
 *
 * @throws An errno error (`.code`), or a `TypeError` if the handle is closed.
 */
export function fdSize(handle: FdHandle): number {
  const fd = handle.fd;
  const stat = alloc(STAT_BUFFER_SIZE);
  if (libc().fstat(fd, stat) < 0) throw errnoError(errno(), `Cannot stat descriptor ${fd}`);
  return Number(new DataView(stat.buffer).getBigInt64(STAT_SIZE_OFFSET, true));
}
