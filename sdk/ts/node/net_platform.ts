/**
 * The `node:net` platform: Unix path sockets without descriptor passing.
 *
 * Reads are `data` events passed to the sink as they come (Node gives a fresh `Buffer`, a
 * `Uint8Array`, each time); writes go straight to `socket.write` and return a promise only when
 * Node asks the writer to wait for `drain`. Write coalescing is the core's job.
 *
 * Abstract `@name` sockets are refused: Node pads abstract names to 108 bytes, so it cannot reach
 * the exact-length names every other peer uses (use the FFI platform, or `platformFor`).
 *
 * @module
 */

import { chmodSync, chownSync, lstatSync, statSync, unlinkSync } from "node:fs";
import * as net from "node:net";
import type {
  ConnectionSink,
  ConnectOptions,
  Connection,
  Listener,
  ListenOptions,
  Platform,
} from "../core/transport.ts";
import { parseAddress } from "./address.ts";
import { closedError, type SocketError, socketError } from "./errors.ts";

function abstractRefused(syscall: string, address: string): SocketError {
  return socketError(
    syscall,
    "EINVAL",
    address,
    "node:net cannot use exact-length abstract socket names (it pads them to 108 bytes); " +
      "use nodeFfiPlatform or platformFor()",
  );
}

function fdPassingRefused(syscall: string, address: string): SocketError {
  return socketError(
    syscall,
    "EINVAL",
    address,
    "node:net cannot pass file descriptors; use nodeFfiPlatform or platformFor({ fdPassing: true })",
  );
}

/** After a half-close, how often to check that the peer still reads (see the "end" handler). */
const PROBE_MS = 250;
const EMPTY = Buffer.alloc(0);

/** A `node:net` socket as a {@linkcode Connection}. */
export class NetConnection implements Connection {
  readonly fdPassing = false;
  /** The address this connection was made to or accepted on. */
  readonly address: string;
  readonly #socket: net.Socket;
  #sink: ConnectionSink | undefined;
  #error: Error | undefined;
  #ended = false; // 'close' seen
  #notified = false;

  /**
   * @param socket A connected socket.
   * @param address For messages.
   */
  readonly #textIn: boolean;

  /**
   * @param socket The connected socket.
   * @param address Its address, for messages.
   * @param textIn Deliver decoded text to sinks that take it (client side: the peer is the
   *   service, so Node's replacement of invalid UTF-8 is acceptable there, and it is faster).
   */
  constructor(socket: net.Socket, address: string, textIn = false) {
    this.#textIn = textIn;
    this.#socket = socket;
    this.address = address;
    socket.on("error", (error) => {
      this.#error ??= error;
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
  }

  start(sink: ConnectionSink): void {
    if (this.#sink) throw new Error("Connection already started");
    this.#sink = sink;
    const text = sink.textData;
    if (this.#textIn && text !== undefined) {
      this.#socket.setEncoding("utf8");
      this.#socket.on("data", (chunk: string) => {
        if (!this.#notified) text.call(sink, chunk);
      });
    } else {
      this.#socket.on("data", (chunk: Buffer) => {
        if (!this.#notified) sink.data(chunk);
      });
    }
    // Sockets are half-open capable (allowHalfOpen): a sink that takes half-closed connections
    // keeps writing after the peer's end of stream; otherwise our side ends too, after pending
    // writes, as allowHalfOpen=false would do.
    this.#socket.on("end", () => {
      if (this.#notified) return;
      if (!sink.ended) {
        this.#socket.end();
        return;
      }
      // A peer that only shut down its sending side still reads; one that closed completely fails
      // an empty write (EPIPE: 'error', then 'close' reports it). Only the first is a half-close,
      // and it is checked again every PROBE_MS, as nothing else would notice the peer leaving.
      this.#socket.write(EMPTY, (error) => {
        if (error || this.#notified) return;
        const probe = setInterval(() => {
          if (this.#notified) clearInterval(probe);
          else this.#socket.write(EMPTY);
        }, PROBE_MS);
        probe.unref();
        this.#socket.once("close", () => clearInterval(probe));
        sink.ended!();
      });
    });
    if (this.#ended) queueMicrotask(() => this.#notify());
  }

  write(chunk: Uint8Array): Promise<void> | void {
    return this.#writeAny(chunk);
  }

  #writeAny(chunk: Uint8Array | string): Promise<void> | void {
    const socket = this.#socket;
    if (this.#ended || socket.destroyed || !socket.writable) {
      throw this.#error ?? closedError(this.address);
    }
    if (socket.write(chunk)) return;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        socket.off("drain", onDrain);
        socket.off("close", onClose);
      };
      const onDrain = () => {
        done();
        resolve();
      };
      const onClose = () => {
        done();
        reject(this.#error ?? closedError(this.address));
      };
      socket.on("drain", onDrain);
      socket.on("close", onClose);
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  /** UTF-8 through `Buffer.from`, several times faster than `TextEncoder` on Node. */
  encode(text: string): Uint8Array {
    return Buffer.from(text, "utf8");
  }

  /** Writes a string: Node encodes it natively on the way out (faster than writing a Buffer). */
  writeText(text: string): Promise<void> | void {
    return this.#writeAny(text);
  }

  ref(keepAlive: boolean): void {
    if (keepAlive) this.#socket.ref();
    else this.#socket.unref();
  }

  #notify(): void {
    if (this.#notified || !this.#sink) return;
    this.#notified = true;
    this.#sink.closed(this.#error);
  }
}

/** Resolves whether something accepts connections on `path`. */
function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({ path });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(error.code !== "ECONNREFUSED" && error.code !== "ENOENT");
    });
  });
}

function listenOnce(server: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off("listening", onListening);
      reject(error);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen({ path, backlog: 511 });
  });
}

/**
 * Prepares a path for `bind` after it failed with `EADDRINUSE`: removes a stale socket file
 * (nobody accepts on it), refuses to touch a live one or a file that is not a socket.
 *
 * @param path The socket path.
 * @param live Whether a server accepts on it.
 */
export function replaceStale(path: string, live: boolean): void {
  if (live) {
    throw socketError(
      "listen",
      "EADDRINUSE",
      path,
      "a live server already accepts connections on this socket; not replacing it",
    );
  }
  let isSocket = false;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!isSocket) {
    throw socketError("listen", "EADDRINUSE", path, "a file that is not a socket is in the way");
  }
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

/** Sets mode and group of a freshly bound path socket and returns its inode. */
export function finishPathSocket(path: string, options: ListenOptions): number {
  chmodSync(path, options.mode ?? 0o660);
  if (options.gid !== undefined) chownSync(path, -1, options.gid);
  return statSync(path).ino;
}

/** Removes the socket file at `path` if it is still the one with inode `ino`. */
export function unlinkIfOurs(path: string, ino: number): void {
  try {
    if (statSync(path).ino === ino) unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

class NetListener implements Listener {
  readonly address: string;
  readonly #server: net.Server;
  readonly #ino: number;
  #closed = false;

  constructor(address: string, server: net.Server, ino: number) {
    this.address = address;
    this.#server = server;
    this.#ino = ino;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    // server.close() stops accepting at once; its callback would wait for every connection.
    this.#server.close();
    unlinkIfOurs(this.address, this.#ino);
    return Promise.resolve();
  }
}

/** The `node:net` platform (name `"node"`). */
export const nodePlatform: Platform = {
  name: "node",

  connect(address: string, options: ConnectOptions = {}): Promise<Connection> {
    let path: string;
    try {
      if (options.fdPassing) throw fdPassingRefused("connect", address);
      const parsed = parseAddress(address);
      if (parsed.kind === "abstract") throw abstractRefused("connect", address);
      path = parsed.path;
      options.signal?.throwIfAborted();
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<Connection>((resolve, reject) => {
      const socket = net.createConnection({ path, allowHalfOpen: true });
      const signal = options.signal;
      const onAbort = () => {
        socket.destroy();
        reject(signal!.reason);
      };
      const cleanup = () => {
        socket.off("connect", onConnect);
        socket.off("error", onError);
        signal?.removeEventListener("abort", onAbort);
      };
      const onConnect = () => {
        cleanup();
        resolve(new NetConnection(socket, address, true));
      };
      const onError = (error: NodeJS.ErrnoException) => {
        cleanup();
        socket.destroy();
        const err = socketError("connect", error.code ?? "EIO", address);
        err.cause = error;
        reject(err);
      };
      socket.once("connect", onConnect);
      socket.once("error", onError);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },

  async listen(
    address: string,
    onConnection: (connection: Connection) => void,
    options: ListenOptions = {},
  ): Promise<Listener> {
    if (options.fdPassing) throw fdPassingRefused("listen", address);
    const parsed = parseAddress(address);
    if (parsed.kind === "abstract") throw abstractRefused("listen", address);
    const path = parsed.path;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      onConnection(new NetConnection(socket, address));
    });
    try {
      await listenOnce(server, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EADDRINUSE") {
        const err = socketError("listen", (error as NodeJS.ErrnoException).code ?? "EIO", address);
        err.cause = error;
        throw err;
      }
      replaceStale(path, await probe(path));
      await listenOnce(server, path);
    }
    let ino: number;
    try {
      ino = finishPathSocket(path, options);
    } catch (error) {
      server.close();
      throw error;
    }
    return new NetListener(address, server, ino);
  },

  env(name: string): string | undefined {
    try {
      return process.env[name];
    } catch {
      return undefined;
    }
  },
};
