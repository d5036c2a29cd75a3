/**
 * Shared-memory helpers for FD-carrying commands: create a memfd, write and read it at an offset,
 * ask its size. The same names and signatures as the Deno side (`sdk/ts/deno/ffi/`).
 *
 * @module
 */

import type { FdHandle } from "../../core/transport.ts";
import { socketError } from "../errors.ts";
import { NodeFdHandle } from "./fd_handle.ts";
import { C, errno, NativeBlock, raw } from "./libc.ts";

const encoder = new TextEncoder();
let statBlock: NativeBlock | undefined;

/**
 * Creates an anonymous memory file (`memfd_create`, close-on-exec, sealable) of `size` bytes.
 *
 * @param name A name for debugging (`/proc/self/fd/N` shows `memfd:name`).
 * @param size Bytes (zero-filled; default 0, as on the Deno side).
 */
export function createMemfd(name: string, size = 0): FdHandle {
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`Invalid memfd size ${size}`);
  const cname = encoder.encode(name + "\0");
  const fd = raw.memfd_create(cname, C.MFD_CLOEXEC | C.MFD_ALLOW_SEALING);
  if (fd < 0) throw socketError("memfd_create", errno());
  const handle = new NodeFdHandle(fd);
  if (size > 0 && raw.ftruncate(fd, size) < 0) {
    const e = errno();
    handle.close();
    throw socketError("ftruncate", e);
  }
  return handle;
}

/**
 * Writes all of `bytes` at `offset` (default 0) with `pwrite`, growing the file if needed.
 * Returns the number of bytes written.
 */
export function writeFd(handle: FdHandle, bytes: Uint8Array, offset = 0): number {
  const fd = handle.fd;
  let done = 0;
  while (done < bytes.length) {
    const n = raw.pwrite(fd, bytes.subarray(done), bytes.length - done, offset + done);
    if (n < 0) {
      const e = errno();
      if (e === C.EINTR) continue;
      throw socketError("pwrite", e);
    }
    if (n === 0) break;
    done += n;
  }
  return done;
}

/**
 * Reads up to `length` bytes at `offset` (default 0) with `pread`. Returns fewer bytes at end of
 * file.
 */
export function readFd(handle: FdHandle, length: number, offset = 0): Uint8Array {
  const fd = handle.fd;
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = raw.pread(fd, out.subarray(done), length - done, offset + done);
    if (n < 0) {
      const e = errno();
      if (e === C.EINTR) continue;
      throw socketError("pread", e);
    }
    if (n === 0) break;
    done += n;
  }
  return done === length ? out : out.slice(0, done);
}

/** The size in bytes of the file behind `handle` (`fstat`'s `st_size`). */
export function fdSize(handle: FdHandle): number {
  const fd = handle.fd;
  statBlock ??= new NativeBlock(256);
  if (raw.fstat(fd, statBlock.ptr) < 0) throw socketError("fstat", errno());
  // st_size sits at offset 48 in both the x86_64 and the generic (aarch64) struct stat.
  return Number(statBlock.view.getBigInt64(48, true));
}
