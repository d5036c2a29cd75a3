/**
 * The adapter contract between the runtime core and a platform (Deno, Node, in-memory).
 *
 * The core never imports a runtime API: everything it needs from a socket is declared here. A
 * platform adapter implements {@linkcode Platform}; its connections implement
 * {@linkcode Connection}. Adapters are thin: they move bytes and file descriptors, nothing else.
 *
 * @module
 */

/**
 * An owned file descriptor.
 *
 * Whoever holds an `FdHandle` must close it exactly once (`close()`, or `using` with
 * `Symbol.dispose`). `fd` throws once the handle is closed or taken.
 */
export interface FdHandle {
  /** The descriptor number. Throws a `TypeError` after `close()` or `take()`. */
  readonly fd: number;
  /** Whether the handle still owns its descriptor. */
  readonly closed: boolean;
  /** Closes the descriptor. Idempotent. */
  close(): void;
  /**
   * Gives up ownership: returns the descriptor number and leaves the handle closed without closing
   * the descriptor. The caller is then responsible for closing it.
   */
  take(): number;
  /**
   * Marks the handle as kept by a server handler so the runtime does not close it when the handler
   * returns. Returns the handle.
   */
  keep(): FdHandle;
  /** Whether `keep()` was called. */
  readonly kept: boolean;
  /** Same as `close()`. */
  [Symbol.dispose](): void;
}

/** Receives what a {@linkcode Connection} reads. */
export interface ConnectionSink {
  /**
   * Bytes arrived, with the descriptors (if any) that came with them. The sink owns both; the
   * connection must not reuse `chunk`'s memory after the call returns unless `chunk` was copied.
   */
  data(chunk: Uint8Array, fds?: FdHandle[]): void;
  /**
   * Optional: text the runtime already decoded, from a transport in text mode (used by Node's
   * client connections, where `setEncoding("utf8")` beats decoding in JavaScript). A connection
   * delivers either bytes or text, never both; text mode carries no descriptors.
   */
  textData?(chunk: string): void;
  /**
   * Optional: the kernel truncated a control message (MSG_CTRUNC): descriptors were lost and the
   * ones that did arrive were closed. The next line that claims descriptors fails with `BAD_FD`.
   */
  fdsTruncated?(): void;
  /**
   * Optional: the peer shut down its sending side (end of stream) while this side can still write.
   * Nothing more is read; the connection stays open for writing until `close()` or a failed write,
   * and `closed` follows then as always. A transport that cannot keep writing after end of stream,
   * or a sink without this method, reports end of stream as `closed()`.
   */
  ended?(): void;
  /** The connection ended: peer closed (no error) or failed (error). Called exactly once. */
  closed(error?: Error): void;
}

/** A connected byte stream, optionally able to pass file descriptors. */
export interface Connection {
  /** Whether `write` may attach descriptors (SCM_RIGHTS). */
  readonly fdPassing: boolean;
  /** Starts reading. Called once; the sink is then called until `closed`. */
  start(sink: ConnectionSink): void;
  /**
   * Writes all of `chunk`. `fds` (borrowed: the caller keeps them open until the returned promise
   * settles) are attached to the first byte. Returns `undefined` when everything was written
   * synchronously, otherwise a promise that settles once it was.
   */
  write(chunk: Uint8Array, fds?: readonly number[]): Promise<void> | void;
  /** Closes the connection. Idempotent; `sink.closed` follows. */
  close(): void;
  /**
   * Optional: encodes outgoing text as UTF-8 the runtime's fastest way (Node's `Buffer.from` is
   * several times faster than `TextEncoder` there). Default: `TextEncoder`.
   */
  encode?(text: string): Uint8Array;
  /**
   * Optional: writes text (UTF-8 on the wire) without descriptors, when the runtime encodes text
   * natively faster than it writes bytes (Node's `socket.write(string)`). Same contract as `write`.
   */
  writeText?(text: string): Promise<void> | void;
  /**
   * Optional: lets a waiting read keep the process alive (`true`, default) or not. Used by clients
   * that should not hold a process open while only subscriptions remain.
   */
  ref?(keepAlive: boolean): void;
}

/** A bound, listening socket. */
export interface Listener {
  /** The address it listens on (`/path` or `@abstract`). */
  readonly address: string;
  /** Stops accepting and removes a path socket's file. Existing connections stay open. */
  close(): Promise<void>;
}

/** Options for {@linkcode Platform.listen}. */
export interface ListenOptions {
  /** Need SCM_RIGHTS on accepted connections. */
  fdPassing?: boolean;
  /** File mode for a path socket. Default `0o660`. */
  mode?: number;
  /** Group (numeric gid) for a path socket. */
  gid?: number;
}

/** Options for {@linkcode Platform.connect}. */
export interface ConnectOptions {
  /** Need SCM_RIGHTS on this connection. */
  fdPassing?: boolean;
  /** Aborts a pending connect. */
  signal?: AbortSignal;
}

/** What a runtime must provide. */
export interface Platform {
  /** A short name for messages: `"deno"`, `"node"`, `"memory"`. */
  readonly name: string;
  /** Connects to a Unix socket address (`/path` or `@abstract`). */
  connect(address: string, options?: ConnectOptions): Promise<Connection>;
  /** Listens on a Unix socket address and calls `onConnection` for every accepted peer. */
  listen(
    address: string,
    onConnection: (connection: Connection) => void,
    options?: ListenOptions,
  ): Promise<Listener>;
  /** Reads an environment variable (undefined when absent or not permitted). */
  env(name: string): string | undefined;
}
