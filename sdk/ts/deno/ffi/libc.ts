/**
 * Internal: the libc symbol table, constants and errno helpers used by the FFI transport.
 *
 * Every call whose errno matters is synchronous (it runs on the main thread), and `errno()` is read
 * right after it: `nonblocking: true` calls run on a pool thread and lose errno. The only
 * nonblocking symbol is `epoll_wait_nb`, used once per process by the reactor.
 *
 * Results typed `i32` for `ssize_t` functions are safe here: every transfer is bounded well below
 * 2^31 bytes by the buffers we pass, and the ABI returns the full register (so `-1` stays `-1`).
 *
 * Linux only (x86_64 and aarch64 use the same generic values for everything below, except the
 * `epoll_event` layout, which is packed on x86_64).
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "pointer", "pointer", "i32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  chmod: { parameters: ["buffer", "u32"], result: "i32" },
  chown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  epoll_wait_nb: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "i32" },
  pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "i32" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The loaded library's symbols. */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
let errnoView: Deno.UnsafePointerView | undefined;

/** Loads libc on first use (so importing the module costs nothing and needs no permission). */
export function libc(): LibcSymbols {
  if (lib === undefined) {
    if (Deno.build.os !== "linux") {
      throw new Error(`The FFI transport needs Linux, not ${Deno.build.os}`);
    }
    lib = Deno.dlopen("libc.so.6", SYMBOLS);
    errnoView = new Deno.UnsafePointerView(lib.symbols.__errno_location()!);
  }
  return lib.symbols;
}

/** The calling (main) thread's errno. Read it right after the failing call. */
export function errno(): number {
  return errnoView!.getInt32(0);
}

// Socket and message constants.
export const AF_UNIX = 1;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SCM_RIGHTS = 1;
export const SO_ERROR = 4;
export const SO_PEERCRED = 17;
export const MSG_CTRUNC = 0x8;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;
/** Kernel cap on descriptors in one SCM_RIGHTS message. */
export const SCM_MAX_FD = 253;

// epoll / eventfd.
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
/** `sizeof(struct epoll_event)`: packed (12) on x86_64, 16 elsewhere. */
export const EPOLL_EVENT_SIZE = Deno.build.arch === "x86_64" ? 12 : 16;
/** Offset of `epoll_event.data`. */
export const EPOLL_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

// Files.
export const MFD_CLOEXEC = 1;
export const SEEK_CUR = 1;
export const SEEK_END = 2;
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
/** Offset of `st_size` in `struct stat` (48 on both x86_64 and aarch64). */
export const STAT_SIZE_OFFSET = 48;
/** A buffer size that holds `struct stat` on every 64-bit Linux. */
export const STAT_BUFFER_SIZE = 256;

// errno values (Linux generic).
export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EPIPE = 32;
export const ENAMETOOLONG = 36;
export const ENOTSOCK = 88;
export const EADDRINUSE = 98;
export const EADDRNOTAVAIL = 99;
export const ECONNABORTED = 103;
export const ECONNRESET = 104;
export const ENOBUFS = 105;
export const ENOTCONN = 107;
export const ETOOMANYREFS = 109;
export const ETIMEDOUT = 110;
export const ECONNREFUSED = 111;
export const EINPROGRESS = 115;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  17: "EEXIST",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  28: "ENOSPC",
  30: "EROFS",
  32: "EPIPE",
  36: "ENAMETOOLONG",
  40: "ELOOP",
  88: "ENOTSOCK",
  91: "EPROTOTYPE",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  109: "ETOOMANYREFS",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  115: "EINPROGRESS",
};

/** The symbolic name of an errno value (`"ECONNREFUSED"`), or `"E<number>"` when unknown. */
export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `E${code}`;
}

/** libc's description of an errno value, first letter lower-cased: `"connection refused"`. */
export function errnoMessage(code: number): string {
  const p = libc().strerror(code);
  const text = p === null ? `error ${code}` : Deno.UnsafePointerView.getCString(p);
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** An error carrying the errno name as `code` (and the number as `errno`). */
export interface ErrnoError extends Error {
  code: string;
  errno: number;
}

/**
 * Builds a Deno-style error (`Deno.errors.ConnectionRefused`, `NotFound`, ...) for an errno value,
 * with message `<context>: <description>` and `.code` set to the errno name.
 */
export function errnoError(code: number, context: string): ErrnoError {
  const message = `${context}: ${errnoMessage(code)}`;
  let error: Error;
  switch (code) {
    case ENOENT:
      error = new Deno.errors.NotFound(message);
      break;
    case ECONNREFUSED:
      error = new Deno.errors.ConnectionRefused(message);
      break;
    case EACCES:
    case EPERM:
      error = new Deno.errors.PermissionDenied(message);
      break;
    case EADDRINUSE:
      error = new Deno.errors.AddrInUse(message);
      break;
    case EADDRNOTAVAIL:
      error = new Deno.errors.AddrNotAvailable(message);
      break;
    case EPIPE:
      error = new Deno.errors.BrokenPipe(message);
      break;
    case ECONNRESET:
      error = new Deno.errors.ConnectionReset(message);
      break;
    case ECONNABORTED:
      error = new Deno.errors.ConnectionAborted(message);
      break;
    case ENOTCONN:
      error = new Deno.errors.NotConnected(message);
      break;
    case ETIMEDOUT:
      error = new Deno.errors.TimedOut(message);
      break;
    case EAGAIN:
      error = new Deno.errors.WouldBlock(message);
      break;
    case EINTR:
      error = new Deno.errors.Interrupted(message);
      break;
    case EINVAL:
      error = new Deno.errors.InvalidData(message);
      break;
    default:
      error = new Error(message);
  }
  const e = error as ErrnoError;
  e.code = errnoName(code);
  e.errno = code;
  return e;
}

/** Allocates an off-heap zeroed buffer (safe to take a stable pointer of). */
export function alloc(size: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(size));
}

/** The address of a buffer allocated with {@linkcode alloc}, as a BigInt for a `DataView`. */
export function addressOf(buffer: Uint8Array<ArrayBuffer>): bigint {
  return BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
}

/** A NUL-terminated copy of a string, for `const char *` parameters. */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(text);
  const out = alloc(bytes.length + 1);
  out.set(bytes);
  return out;
}
