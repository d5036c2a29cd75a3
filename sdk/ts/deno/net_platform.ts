/**
 * The plain Deno transport: `Deno.connect` / `Deno.listen` on Unix sockets (path or abstract
 * `@name`), no descriptor passing. The fastest path for services that pass no FDs.
 *
 * @module
 */

import type { Connection, ConnectionSink, Listener, ListenOptions, Platform } from "../core/transport.ts";

/** Every pending read holds its own buffer: start small (1,000 idle peers cost 4 MiB), grow on full reads. */
const READ_MIN = 4 * 1024;
const READ_MAX = 256 * 1024;
/**
 * After the peer half-closed, how often to check that it is still there. Deno reports no hang-up on
 * a socket it no longer reads, so an empty write asks the kernel: it fails (EPIPE) once the peer
 * has closed completely, and costs one syscall.
 */
const PROBE_MS = 250;
const EMPTY = new Uint8Array(0);

/** Turns `@name` into Deno's abstract form (`\0name`, exact length). */
function denoPath(address: string): string {
  return address.startsWith("@") ? "\0" + address.slice(1) : address;
}

function codeOf(error: unknown): string | undefined {
  if (error instanceof Deno.errors.NotFound) return "ENOENT";
  if (error instanceof Deno.errors.ConnectionRefused) return "ECONNREFUSED";
  if (error instanceof Deno.errors.PermissionDenied) return "EACCES";
  if (error instanceof Deno.errors.AddrInUse) return "EADDRINUSE";
  return (error as { code?: string })?.code;
}

/** A Deno error with a Deno-std style message and an errno-like `code`. */
function wrap(what: string, address: string, error: unknown): Error {
  const code = codeOf(error);
  const reason = ({
    ENOENT: "no such socket",
    ECONNREFUSED: "connection refused",
    EACCES: "permission denied",
    EADDRINUSE: "address already in use",
  } as Record<string, string>)[code ?? ""] ?? (error as Error)?.message ?? String(error);
  return Object.assign(new Error(`Cannot ${what} "${address}": ${reason}`, { cause: error }), { code });
}

class DenoConnection implements Connection {
  readonly fdPassing = false;
  readonly #conn: Deno.UnixConn;
  #closed = false;
  #ended = false;
  #probe: ReturnType<typeof setInterval> | undefined;
  #sink: ConnectionSink | undefined;

  constructor(conn: Deno.UnixConn) {
    this.#conn = conn;
  }

  start(sink: ConnectionSink): void {
    this.#sink = sink;
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(READ_MIN);
    let error: Error | undefined;
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) {
          // End of stream: a peer that only shut down its sending side still reads; one that
          // closed completely fails an empty write. Only the first is a half-close.
          if (this.#sink?.ended && !this.#closed && await this.#peerReads() && !this.#closed) {
            this.#ended = true;
            const probe = setInterval(() => this.#checkPeer(), PROBE_MS);
            Deno.unrefTimer(probe);
            this.#probe = probe;
            this.#sink.ended();
            return;
          }
          break;
        }
        this.#sink!.data(buf.subarray(0, n));
        if (n === buf.length && buf.length < READ_MAX) buf = new Uint8Array(buf.length * 2);
      }
    } catch (e) {
      if (!this.#closed && !(e instanceof Deno.errors.BadResource) && !(e instanceof Deno.errors.Interrupted)) {
        if (!(e instanceof Deno.errors.ConnectionReset)) error = e as Error;
      }
    }
    this.#finish(error);
  }

  async #peerReads(): Promise<boolean> {
    try {
      await this.#conn.write(EMPTY);
      return true;
    } catch {
      return false;
    }
  }

  async #checkPeer(): Promise<void> {
    if (this.#closed || (await this.#peerReads()) || this.#closed) return;
    this.#finish();
  }

  #finish(error?: Error): void {
    clearInterval(this.#probe);
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
    const sink = this.#sink;
    this.#sink = undefined;
    sink?.closed(error);
  }

  write(chunk: Uint8Array, fds?: readonly number[]): Promise<void> | void {
    if (fds && fds.length > 0) {
      throw new TypeError("Cannot pass file descriptors over a plain Deno socket: use the FFI transport");
    }
    if (this.#closed) throw new Error("Cannot write: the connection is closed");
    return this.#writeAll(chunk);
  }

  async #writeAll(chunk: Uint8Array): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      off += await this.#conn.write(off === 0 ? chunk : chunk.subarray(off));
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    // The read loop ends with BadResource and reports closed(); after end of stream it has ended.
    if (this.#ended) this.#finish();
    clearInterval(this.#probe);
  }

  ref(keepAlive: boolean): void {
    if (keepAlive) this.#conn.ref();
    else this.#conn.unref();
  }
}

async function isLive(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

/** The plain Deno platform (`Deno.connect`/`Deno.listen`). */
export const denoPlatform: Platform = {
  name: "deno",
  async connect(address: string): Promise<Connection> {
    try {
      const conn = await Deno.connect({ transport: "unix", path: denoPath(address) });
      return new DenoConnection(conn);
    } catch (error) {
      throw wrap("connect to", address, error);
    }
  },
  async listen(
    address: string,
    onConnection: (c: Connection) => void,
    options: ListenOptions = {},
  ): Promise<Listener> {
    const path = denoPath(address);
    const abstract = address.startsWith("@");
    if (!abstract) {
      let exists = false;
      try {
        exists = (await Deno.lstat(path)).isSocket === true;
      } catch { /* absent */ }
      if (exists) {
        if (await isLive(path)) {
          throw Object.assign(new Error(`Address "${address}" is already in use`), { code: "EADDRINUSE" });
        }
        await Deno.remove(path);
      }
    }
    let listener: Deno.UnixListener;
    try {
      listener = Deno.listen({ transport: "unix", path });
    } catch (error) {
      throw wrap("listen on", address, error);
    }
    let ino: number | null = null;
    if (!abstract) {
      await Deno.chmod(path, options.mode ?? 0o660);
      if (options.gid !== undefined) await Deno.chown(path, null, options.gid);
      ino = (await Deno.lstat(path)).ino;
    }
    let open = true;
    const acceptLoop = (async () => {
      try {
        for await (const conn of listener) onConnection(new DenoConnection(conn));
      } catch (error) {
        if (open) console.error(`copperline-ports: accept on "${address}" failed:`, error);
      }
    })();
    return {
      address,
      async close() {
        if (!open) return;
        open = false;
        try {
          listener.close();
        } catch { /* closed */ }
        // Deno unlinks the socket file itself once the listener is dropped, which happens when the
        // accept loop ends: wait for it, so nothing is removed after close() returned. Remove the
        // file only if it is still ours (a new server may already own the path).
        await acceptLoop;
        if (!abstract) {
          try {
            if ((await Deno.lstat(path)).ino === ino) await Deno.remove(path);
          } catch { /* already gone */ }
        }
      },
    };
  },
  env(name: string): string | undefined {
    try {
      return Deno.env.get(name);
    } catch {
      return undefined;
    }
  },
};
