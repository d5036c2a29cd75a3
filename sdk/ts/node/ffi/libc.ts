/**
 * libc through koffi: the calls the FFI transport needs, their constants and the Linux struct
 * layouts (x86_64 and aarch64). Every synchronous call is followed by `koffi.errno()` in the
 * wrappers here, so errno is read before anything else can run.
 *
 * @module
 */

import koffi from "koffi";

const lib = koffi.load("libc.so.6");

// deno-lint-ignore no-explicit-any
type Fn = (...args: any[]) => any;
// deno-lint-ignore no-explicit-any
type AsyncFn = Fn & { async: (...args: any[]) => void };

const f = (decl: string): AsyncFn => lib.func(decl) as AsyncFn;

/** The raw functions (numbers in, numbers out; -1 means: look at errno). */
export const raw = {
  socket: f("int socket(int domain, int type, int protocol)"),
  connect: f("int connect(int fd, const void *addr, uint32_t len)"),
  bind: f("int bind(int fd, const void *addr, uint32_t len)"),
  listen: f("int listen(int fd, int backlog)"),
  accept4: f("int accept4(int fd, void *addr, void *len, int flags)"),
  send: f("intptr_t send(int fd, const void *buf, size_t len, int flags)"),
  sendmsg: f("intptr_t sendmsg(int fd, void *msg, int flags)"),
  recvmsg: f("intptr_t recvmsg(int fd, void *msg, int flags)"),
  read: f("intptr_t read(int fd, void *buf, size_t len)"),
  write: f("intptr_t write(int fd, const void *buf, size_t len)"),
  close: f("int close(int fd)"),
  epoll_create1: f("int epoll_create1(int flags)"),
  epoll_ctl: f("int epoll_ctl(int epfd, int op, int fd, void *event)"),
  epoll_wait: f("int epoll_wait(int epfd, void *events, int maxevents, int timeout)"),
  eventfd: f("int eventfd(unsigned int initval, int flags)"),
  memfd_create: f("int memfd_create(const char *name, unsigned int flags)"),
  ftruncate: f("int ftruncate(int fd, int64_t length)"),
  pread: f("intptr_t pread(int fd, void *buf, size_t len, int64_t offset)"),
  pwrite: f("intptr_t pwrite(int fd, const void *buf, size_t len, int64_t offset)"),
  fcntl: f("int fcntl(int fd, int cmd, int arg)"),
  fstat: f("int fstat(int fd, void *buf)"),
  shutdown: f("int shutdown(int fd, int how)"),
  getsockopt: f("int getsockopt(int fd, int level, int name, void *val, void *len)"),
  setsockopt: f("int setsockopt(int fd, int level, int name, const void *val, uint32_t len)"),
};

/** Positive errno of the last call on this thread. */
export const errno = (): number => koffi.errno();

/** Linux constants (the same on x86_64 and aarch64). */
export const C = {
  AF_UNIX: 1,
  SOCK_STREAM: 1,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SCM_RIGHTS: 1,
  SO_ERROR: 4,
  SO_PASSCRED: 16,
  MSG_CTRUNC: 0x8,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  MSG_CMSG_CLOEXEC: 0x40000000,
  EPOLL_CLOEXEC: 0o2000000,
  EPOLL_CTL_ADD: 1,
  EPOLL_CTL_DEL: 2,
  EPOLL_CTL_MOD: 3,
  EPOLLIN: 0x001,
  EPOLLOUT: 0x004,
  EPOLLERR: 0x008,
  EPOLLHUP: 0x010,
  EPOLLRDHUP: 0x2000,
  EFD_CLOEXEC: 0o2000000,
  EFD_NONBLOCK: 0o4000,
  MFD_CLOEXEC: 1,
  MFD_ALLOW_SEALING: 2,
  F_GETFD: 1,
  SHUT_WR: 1,
  // errno values
  EINTR: 4,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EPIPE: 32,
  EINPROGRESS: 115,
  EADDRINUSE: 98,
  ECONNABORTED: 103,
  ECONNRESET: 104,
  ECONNREFUSED: 111,
  ENOENT: 2,
  EMFILE: 24,
  ENFILE: 23,
  ENOBUFS: 105,
} as const;

/** `struct epoll_event`: packed (12 bytes) on x86_64, naturally aligned (16) elsewhere. */
export const EPOLL_EVENT_SIZE = process.arch === "x64" ? 12 : 16;
/** Offset of `data` inside `struct epoll_event`. */
export const EPOLL_DATA_OFFSET = process.arch === "x64" ? 4 : 8;

/** `struct msghdr` (LP64). */
export const MSGHDR = {
  size: 56,
  name: 0,
  namelen: 8,
  iov: 16,
  iovlen: 24,
  control: 32,
  controllen: 40,
  flags: 48,
} as const;

/** `struct iovec` (LP64). */
export const IOVEC_SIZE = 16;

/** `struct cmsghdr` header (LP64): len (size_t), level (int), type (int), then data. */
export const CMSG_HDR = 16;
/** CMSG_ALIGN. */
export const cmsgAlign = (n: number): number => (n + 7) & ~7;
/** CMSG_SPACE(n). */
export const cmsgSpace = (n: number): number => CMSG_HDR + cmsgAlign(n);
/** CMSG_LEN(n). */
export const cmsgLen = (n: number): number => CMSG_HDR + n;

/** A block of native memory that never moves, with JS views on it. */
export class NativeBlock {
  /** The koffi pointer (pass it to calls taking `void *`). */
  readonly ptr: unknown;
  /** Its address. */
  readonly address: bigint;
  /** Byte view. */
  readonly bytes: Uint8Array;
  /** Typed access. */
  readonly view: DataView;

  /** @param size Bytes. */
  constructor(readonly size: number) {
    this.ptr = koffi.alloc("uint8_t", size);
    this.address = koffi.address(this.ptr);
    const buffer = koffi.view(this.ptr, size);
    this.bytes = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.bytes.fill(0);
  }
}

/** koffi's own `poll` (a libuv `uv_poll_t` on the main loop). */
export const uvPoll = koffi.node.poll as unknown as (
  fd: number,
  opts: { readable?: boolean; writable?: boolean },
  callback: (status: number, events: { readable: boolean; writable: boolean; disconnect: boolean }) => void,
) => { stop(): void; close(): void; ref(): void; unref(): void };
