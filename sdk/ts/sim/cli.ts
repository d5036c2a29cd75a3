/**
 * `deno task serve <service>|all [--socket PATH|@name] [--dir DIR] [--quiet]`: serves simulated
 * services until SIGINT/SIGTERM.
 *
 * Exit codes: 0 after a signal (graceful close), 1 when a server cannot listen (address in use,
 * permissions), 2 for usage errors (unknown service, bad options).
 *
 * @module
 */

import { mkdirSync } from "node:fs";
import { parseArgs } from "node:util";
import { envVariableFor, resolveAddress } from "../core/descriptor.ts";
import {
  isService,
  type RunningSim,
  type ServiceName,
  SERVICES,
  startAll,
  startSim,
} from "./mod.ts";

const USAGE = `usage: deno task serve <service>|all [--socket PATH|@name] [--dir DIR] [--quiet]
services: ${SERVICES.join(", ")}`;

function fail(code: number, message: string): never {
  console.error(message);
  Deno.exit(code);
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The default address of a service (schemas/PROTOCOL.md §1), or the one in `dir`. */
function addressFor(service: ServiceName, dir: string | undefined): string {
  if (dir !== undefined) return `${dir.replace(/\/+$/, "")}/${service}.sock`;
  return resolveAddress(service, env);
}

/** Creates the directory of a path socket. */
function ensureDir(address: string): void {
  if (address.startsWith("@")) return;
  const dir = address.slice(0, address.lastIndexOf("/")) || "/";
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    fail(1, `serve: cannot create ${dir}: ${(error as Error).message}`);
  }
}

function listenError(service: string, address: string, error: unknown): never {
  const e = error as { code?: string; message?: string };
  if (e?.code === "EADDRINUSE" || error instanceof Deno.errors.AddrInUse) {
    fail(
      1,
      `serve: ${service}: address ${address} is already in use (is another ${service} running?)`,
    );
  }
  if (e?.code === "EACCES" || error instanceof Deno.errors.PermissionDenied) {
    fail(1, `serve: ${service}: permission denied listening on ${address} (try --socket or --dir)`);
  }
  fail(1, `serve: ${service}: cannot listen on ${address}: ${e?.message ?? String(error)}`);
}

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: Deno.args,
      allowPositionals: true,
      options: {
        socket: { type: "string", short: "s" },
        dir: { type: "string", short: "d" },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    fail(2, `serve: ${(error as Error).message}\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) {
    fail(2, `serve: expected one service name or "all", got ${positionals.length}\n${USAGE}`);
  }
  const name = positionals[0];
  if (name !== "all" && !isService(name)) {
    fail(2, `serve: unknown service "${name}"; valid services: ${SERVICES.join(", ")}, all`);
  }
  if (name === "all" && values.socket !== undefined) {
    fail(
      2,
      `serve: --socket names one address; with "all" use --dir DIR (or the ${
        envVariableFor("<service>")
      } variables)`,
    );
  }

  const running: RunningSim[] = [];
  if (name === "all") {
    const addresses = new Map(SERVICES.map((s) => [s, addressFor(s, values.dir)]));
    for (const a of addresses.values()) ensureDir(a);
    try {
      running.push(...await startAll((s) => addresses.get(s)!));
    } catch (error) {
      const service = (error as { service?: ServiceName }).service ?? "compositord";
      listenError(service, addresses.get(service)!, error);
    }
  } else {
    const service = name as ServiceName;
    const address = values.socket ?? addressFor(service, values.dir);
    ensureDir(address);
    try {
      running.push(await startSim(service, { address }));
    } catch (error) {
      listenError(service, address, error);
    }
  }
  for (const r of running) {
    if (!values.quiet) console.log(`serving ${r.service} on ${r.addresses.join(", ")}`);
  }

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    if (!values.quiet) console.error(`serve: ${signal}, closing`);
    await Promise.all(running.map((r) => r.stop()));
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void shutdown("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void shutdown("SIGTERM"));
}

if (import.meta.main) await main();
