/**
 * FD-capable Deno transport for ports v0: Unix stream sockets owned through libc (FFI), with
 * SCM_RIGHTS descriptor passing, driven by one epoll reactor per process.
 *
 * ```ts ignore
 * import { ffiPlatform, createMemfd, writeFd } from "./mod.ts";
 * const connection = await ffiPlatform.connect("@copperline/compositord");
 * using buffer = createMemfd("frame", 4096);
 * writeFd(buffer, pixels);
 * await connection.write(new TextEncoder().encode(line), [buffer.fd]);
 * ```
 *
 * Run with `--allow-ffi` (plus `--allow-read` for stale-socket checks). Linux only.
 *
 * @module
 */

export { FfiListener, ffiPlatform, sockaddrUn } from "./platform.ts";
export type { FfiConnectOptions, FfiListenOptions } from "./platform.ts";
export {
  DEFAULT_MAX_FDS_PER_MESSAGE,
  FfiConnection,
  READ_BUFFER_SIZE,
  SEND_BUFFER_SIZE,
} from "./connection.ts";
export type { FfiConnectionOptions, FfiConnectionSink } from "./connection.ts";
export { fdHandle, LibcFdHandle } from "./fd_handle.ts";
export { createMemfd, fdSize, readFd, writeFd } from "./memfd.ts";
export { reactorIdle, UNREF_POLL_MS } from "./reactor.ts";
export { SCM_MAX_FD } from "./libc.ts";
export type {
  Connection,
  ConnectionSink,
  ConnectOptions,
  FdHandle,
  Listener,
  ListenOptions,
  Platform,
} from "../../core/transport.ts";
