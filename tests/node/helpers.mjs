/**
 * Helpers of the Node package tests: paths, child services (Deno or Node) on temporary sockets,
 * descriptor counts.
 */

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DENO = join(ROOT, "node_modules/.bin/deno");
/** The compiled fixtures of tests/node/prepare.mjs. */
export const LIB = join(ROOT, "build/node-pkg-tests/lib");

/** A fresh temporary directory and its cleanup. */
export function tempDir(prefix = "clp-nodepkg-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Open descriptors of this process. */
export const fdCount = () => readdirSync("/proc/self/fd").length;

/** Sleeps. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `fdCount()` is back to `expected` (descriptors close asynchronously), then returns it. */
export async function settleFds(expected, ms = 2000) {
  const end = Date.now() + ms;
  let n = fdCount();
  while (n !== expected && Date.now() < end) {
    await sleep(20);
    n = fdCount();
  }
  return n;
}

/**
 * Spawns a child and resolves once its stdout printed `marker` (a line starting with it, or a
 * predicate on the whole output), with the child.
 *
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ marker?: string | ((out: string) => boolean), timeoutMs?: number, env?: object }} [options]
 */
export function spawnReady(cmd, args, { marker = "ready", timeoutMs = 20_000, env } = {}) {
  const child = spawn(cmd, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "", err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`${cmd} ${args.join(" ")}: no "${marker}" within ${timeoutMs} ms\n${out}${err}`),
      );
    }, timeoutMs);
    child.stdout.on("data", (d) => {
      out += d;
      const seen = typeof marker === "function"
        ? marker(out)
        : out.split("\n").some((l) => l.startsWith(marker));
      if (seen) {
        clearTimeout(timer);
        resolve({ child, output: () => out, stop: () => stopChild(child) });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(
        new Error(`${cmd} ${args.join(" ")} exited (${code}) before "${marker}"\n${out}${err}`),
      );
    });
  });
}

/** SIGTERM, then SIGKILL after 3 s; resolves with the exit code. */
export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
    child.kill("SIGTERM");
  });
}

/** The Deno echo service (tests/echo_main.ts) on `address`. */
export const startDenoEcho = (address, ...flags) =>
  spawnReady(DENO, ["run", "-A", join(ROOT, "tests/echo_main.ts"), address, ...flags])
    .then((s) => ({ ...s, address }));

/** The Node echo stub (tests/node/echo_node_main.ts, compiled) in a child process on `address`. */
export const startNodeEchoChild = (address, ...flags) =>
  spawnReady(process.execPath, [join(LIB, "echo_node_main.js"), address, ...flags])
    .then((s) => ({ ...s, address }));

/** Runs a program to completion; resolves with its exit code and output. */
export function run(cmd, args, { timeoutMs = 30_000, env, cwd = ROOT } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let stdout = "", stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/**
 * Reads NDJSON messages from a byte source: `push(chunk)` as bytes arrive, `next(n, ms)` resolves
 * with the next n parsed messages (fewer if the stream ended or the time ran out).
 */
export class LineReader {
  #buf = "";
  #dec = new TextDecoder();
  #messages = [];
  #waiter;
  ended = false;

  push(chunk) {
    this.#buf += this.#dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = this.#buf.indexOf("\n")) >= 0) {
      this.#messages.push(JSON.parse(this.#buf.slice(0, nl)));
      this.#buf = this.#buf.slice(nl + 1);
    }
    this.#wake();
  }

  end() {
    this.ended = true;
    this.#wake();
  }

  #wake() {
    const w = this.#waiter;
    if (w && (this.#messages.length >= w.n || this.ended)) {
      this.#waiter = undefined;
      w.resolve();
    }
  }

  async next(n = 1, ms = 5000) {
    if (this.#messages.length < n && !this.ended) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve();
        }, ms);
        this.#waiter = { n, resolve: () => (clearTimeout(timer), resolve()) };
      });
    }
    return this.#messages.splice(0, n);
  }
}

/** A raw `node:net` connection speaking lines: `send(bytes|text)` adds the newline. */
export async function rawNet(address) {
  const net = await import("node:net");
  const socket = net.createConnection({ path: address });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reader = new LineReader();
  socket.on("data", (d) => reader.push(d));
  socket.on("end", () => reader.end());
  socket.on("close", () => reader.end());
  socket.on("error", () => reader.end());
  return {
    send(line) {
      const bytes = typeof line === "string"
        ? Buffer.from(line)
        : Buffer.from(line.buffer, line.byteOffset, line.byteLength);
      socket.write(Buffer.concat([bytes, Buffer.from("\n")]));
    },
    writeRaw(bytes) {
      socket.write(bytes);
    },
    next: (n, ms) => reader.next(n, ms),
    close() {
      socket.destroy();
    },
    /**
     * Half-closes and waits (up to `ms`) for the server to close its side, i.e. to have ended the
     * session (its subscriptions with it), so the next case on a shared server starts clean.
     */
    end(ms = 2000) {
      if (socket.destroyed) return Promise.resolve();
      return new Promise((resolve) => {
        const t = setTimeout(() => (socket.destroy(), resolve()), ms);
        socket.once("close", () => (clearTimeout(t), resolve()));
        socket.end();
      });
    },
    socket,
  };
}

/**
 * A raw FD-capable connection (the package's node-ffi platform): `send(text, fds)` writes one line
 * with the descriptors attached (SCM_RIGHTS); received descriptors are closed at once and counted.
 */
export async function rawFfi(address, nodeFfiPlatform) {
  const conn = await nodeFfiPlatform.connect(address, { fdPassing: true });
  const reader = new LineReader();
  const state = { received: 0 };
  conn.start({
    data(chunk, fds) {
      for (const h of fds ?? []) {
        state.received++;
        h.close();
      }
      reader.push(chunk);
    },
    closed() {
      reader.end();
    },
  });
  return {
    async send(text, fds) {
      const p = conn.write(new TextEncoder().encode(text + "\n"), fds);
      if (p) await p;
    },
    next: (n, ms) => reader.next(n, ms),
    close: () => conn.close(),
    state,
  };
}
