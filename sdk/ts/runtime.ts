/**
 * Connecting and serving on the current runtime. Picks the platform adapter lazily: Deno
 * (`./deno/`) or Node (`./node/`), the FD-capable one when the service passes descriptors.
 *
 * @module
 */

import { type ClientOptions, PortClient } from "./core/client.ts";
import { resolveAddress, type ServerDescriptor, type ServiceDescriptor } from "./core/descriptor.ts";
import type { ServerOptions } from "./core/server.ts";
import type { ServiceClientClass, ServiceServer } from "./core/service.ts";
import type { ListenOptions, Platform } from "./core/transport.ts";

/** Options for connecting a client. */
export interface ConnectOptions extends ClientOptions {
  /** Use this platform instead of the detected one. */
  platform?: Platform;
  /** Force the FD-capable transport (default: when the service declares FDs). */
  fdPassing?: boolean;
  /** Aborts a pending connect. */
  signal?: AbortSignal;
}

/** Options for serving. */
export interface ServeOptions extends ServerOptions, ListenOptions {
  /** Address(es) to listen on; default from the schema/environment (schemas/PROTOCOL.md §1). */
  address?: string | string[];
  /** Use this platform instead of the detected one. */
  platform?: Platform;
}

type Loaded = { plain: Platform; fd: () => Promise<Platform> };
let loaded: Promise<Loaded> | undefined;

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function loadAdapters(): Promise<Loaded> {
  // The specifiers are computed so that neither type-checker follows the other runtime's adapter.
  if (g.Deno?.version?.deno) {
    const base = "./deno/";
    return import(base + "net_platform.ts").then((m) => ({
      plain: m.denoPlatform as Platform,
      fd: () => import(base + "ffi/mod.ts").then((f) => f.ffiPlatform as Platform),
    }));
  }
  if (g.process?.versions?.node) {
    const base = "./node/";
    return import(base + "mod.js").then((m) => ({
      plain: m.nodePlatform as Platform,
      fd: () => Promise.resolve(m.nodeFfiPlatform as Platform),
    }));
  }
  return Promise.reject(new Error("Cannot find a platform adapter: not running on Deno or Node"));
}

/**
 * The platform for a connection: the FD-capable adapter when descriptors must pass (or, on Node,
 * for abstract `@` addresses), else the runtime's plain sockets.
 *
 * @param fdPassing Whether descriptors must pass.
 * @param address The address (abstract addresses need the FFI path on Node).
 */
export async function platformFor(fdPassing: boolean, address = ""): Promise<Platform> {
  loaded ??= loadAdapters();
  const l = await loaded;
  if (fdPassing || (address.startsWith("@") && l.plain.name === "node")) return await l.fd();
  return l.plain;
}

/**
 * Connects a protocol client (untyped) to an address.
 *
 * @param address `/path` or `@abstract`.
 * @param options Client options.
 */
export async function connect(address: string, options: ConnectOptions = {}): Promise<PortClient> {
  const platform = options.platform ?? await platformFor(options.fdPassing ?? false, address);
  const connection = await platform.connect(address, { fdPassing: options.fdPassing, signal: options.signal });
  return new PortClient(connection, options);
}

/**
 * Connects a generated client class. The address defaults to the service's
 * `<SERVICE>_SOCKET` variable, then `/run/copperline/<service>.sock`.
 *
 * @param cls The generated client class (`CopperdClient`).
 * @param address Explicit address.
 * @param options Client options.
 */
export async function connectService<T>(
  cls: ServiceClientClass<T>,
  address?: string,
  options: ConnectOptions = {},
): Promise<T> {
  const service = cls.service;
  const fdPassing = options.fdPassing ?? service.fdPassing ?? false;
  const probe = options.platform ?? await platformFor(fdPassing, address ?? "");
  const target = resolveAddress(service.name, (n) => probe.env(n), address, service.socket);
  const platform = options.platform ?? await platformFor(fdPassing, target);
  const connection = await platform.connect(target, { fdPassing, signal: options.signal });
  return new cls(new PortClient(connection, options, service));
}

/**
 * Starts a generated server on its address(es).
 *
 * @param server A constructed generated server (`new CopperdServer(handlers)`).
 * @param descriptor Its descriptor.
 * @param options Where and how to listen.
 */
// deno-lint-ignore no-explicit-any
export async function listenService<S extends ServiceServer<any, any>>(
  server: S,
  descriptor: ServerDescriptor | ServiceDescriptor,
  options: ServeOptions = {},
): Promise<S> {
  const fdPassing = options.fdPassing ?? descriptor.fdPassing ?? false;
  const probe = options.platform ?? await platformFor(fdPassing);
  const addresses = options.address === undefined
    ? [resolveAddress(descriptor.name, (n) => probe.env(n), undefined, descriptor.socket)]
    : Array.isArray(options.address) ? options.address : [options.address];
  for (const address of addresses) {
    const platform = options.platform ?? await platformFor(fdPassing, address);
    const listener = await platform.listen(address, (c) => server.accept(c), {
      fdPassing,
      mode: options.mode,
      gid: options.gid,
    });
    server._addListener(listener);
  }
  return server;
}
