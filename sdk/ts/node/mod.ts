/**
 * The Node platforms.
 *
 * - {@linkcode nodePlatform} (`"node"`): `node:net`, path sockets, no descriptor passing.
 * - {@linkcode nodeFfiPlatform} (`"node-ffi"`): libc through koffi, descriptor passing
 *   (SCM_RIGHTS) and exact-length abstract `@name` sockets. koffi is loaded on first use, so
 *   programs that only use `node:net` run without it.
 * - {@linkcode platformFor} picks one of them for a service.
 *
 * The memfd helpers (`createMemfd`, `writeFd`, `readFd`, `fdSize`) live in `./ffi/mod.ts`.
 *
 * @module
 */

import "./dispose.ts";
import type { Connection, ConnectOptions, Listener, ListenOptions, Platform } from "../core/transport.ts";
import { isAbstract } from "./address.ts";
import { nodePlatform } from "./net_platform.ts";

export { nodePlatform, NetConnection } from "./net_platform.ts";
export { isAbstract, parseAddress, type SocketAddress } from "./address.ts";
export { type SocketError, socketError } from "./errors.ts";

type FfiModule = typeof import("./ffi/platform.ts");
let ffiModule: Promise<FfiModule> | undefined;
const loadFfi = (): Promise<FfiModule> => (ffiModule ??= import("./ffi/platform.ts"));

/** The FFI platform (`"node-ffi"`), loading koffi on first use. */
export const nodeFfiPlatform: Platform = {
  name: "node-ffi",
  async connect(address: string, options?: ConnectOptions): Promise<Connection> {
    return (await loadFfi()).nodeFfiPlatform.connect(address, options);
  },
  async listen(
    address: string,
    onConnection: (connection: Connection) => void,
    options?: ListenOptions,
  ): Promise<Listener> {
    return (await loadFfi()).nodeFfiPlatform.listen(address, onConnection, options);
  },
  env(name: string): string | undefined {
    return process.env[name];
  },
};

/** What {@linkcode platformFor} decides on. */
export interface PlatformChoice {
  /** The service passes file descriptors (its schema uses `x-fd`). */
  fdPassing?: boolean;
  /** The address that will be used (`/path` or `@abstract`). */
  address?: string;
}

/**
 * The platform for a service: FFI when descriptors must pass or the address is abstract (`node:net`
 * pads abstract names and cannot reach other peers), `node:net` otherwise.
 */
export function platformFor(choice: PlatformChoice = {}): Platform {
  if (choice.fdPassing) return nodeFfiPlatform;
  if (choice.address !== undefined && isAbstract(choice.address)) return nodeFfiPlatform;
  return nodePlatform;
}
