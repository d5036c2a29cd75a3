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
 * Spawns a child and resolves once its stdout printed `marker` (a line), with the child.
 *
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ marker?: string, timeoutMs?: number, env?: object }} [options]
 */
export function spawnReady(cmd, args, { marker = "ready", timeoutMs = 20_000, env } = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "", err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")}: no "${marker}" within ${timeoutMs} ms\n${out}${err}`));
    }, timeoutMs);
    child.stdout.on("data", (d) => {
      out += d;
      if (out.split("\n").some((l) => l.trim() === marker || l.startsWith(marker))) {
        clearTimeout(timer);
        resolve({ child, output: () => out, stop: () => stopChild(child) });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(" ")} exited (${code}) before "${marker}"\n${out}${err}`));
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
export const startDenoEcho = (address, ...flags) => spawnReady(DENO, ["run", "-A", join(ROOT, "tests/echo_main.ts"), address, ...flags]);

/** The Node echo stub (tests/node/echo_node_main.ts, compiled) in a child process on `address`. */
export const startNodeEchoChild = (address, ...flags) => spawnReady(process.execPath, [join(LIB, "echo_node_main.js"), address, ...flags]);

/** Runs a program to completion; resolves with its exit code and output. */
export function run(cmd, args, { timeoutMs = 30_000, env } = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
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
