/**
 * Helpers for the sim tests: a served sim in a temp directory, deadlines, event collection.
 *
 * @module
 */

import assert from "node:assert/strict";
import { reactorIdle } from "../deno/ffi/mod.ts";
import { type RunningSim, type ServiceName, startSim, type StartSimOptions } from "./mod.ts";

/** A sim served on a fresh socket in a temp directory. */
export interface Served {
  sim: RunningSim;
  address: string;
  dir: string;
  /** Stops the sim, closes the server, waits for the FFI reactor, removes the directory. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Serves `service`'s sim on `<tmp>/<service>.sock`. */
export async function serve<K extends ServiceName>(
  service: K,
  options: StartSimOptions<K> = {},
): Promise<Served> {
  const dir = Deno.makeTempDirSync({ prefix: "copperline-sim-" });
  const address = `${dir}/${service}.sock`;
  const sim = await startSim(service, { ...options, address });
  const close = async () => {
    await sim.stop();
    await reactorIdle();
    Deno.removeSync(dir, { recursive: true });
  };
  return { sim, address, dir, close, [Symbol.asyncDispose]: close };
}

/** Rejects if `promise` does not settle within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out after ${ms} ms waiting for ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collects events of `names` (skipping `dropped`) until `count` arrived, then leaves the loop. */
export async function take<T extends { event: string }>(
  sub: AsyncIterable<T>,
  count: number,
  names?: string[],
): Promise<T[]> {
  const out: T[] = [];
  if (count <= 0) return out;
  for await (const ev of sub) {
    if (ev.event === "dropped") continue;
    if (names && !names.includes(ev.event)) continue;
    out.push(ev);
    if (out.length >= count) break;
  }
  return out;
}

/** Asserts that `promise` rejects with protocol `code` and a message matching `message`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    const e = error as { code?: string; message?: string };
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message ?? "", message);
    return true;
  });
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** FNV-1a 32-bit, computed independently of the sim's implementation. */
export function fnv1aReference(bytes: Uint8Array): string {
  let h = 2166136261n;
  for (const b of bytes) {
    h ^= BigInt(b);
    h = (h * 16777619n) & 0xffffffffn;
  }
  return h.toString(16).padStart(8, "0");
}
