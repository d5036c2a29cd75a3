/**
 * copperline-ports: typed clients and servers for CopperlineOS message ports (ports protocol v0).
 *
 * ```ts ignore
 * import { CopperdClient } from "./services/copperd.ts";
 * const copperd = await CopperdClient.connect();
 * const { id } = await copperd.load({ program: { version: 1, program: [{ op: "WAIT", vsync: true }] } });
 * await copperd.start({ id });
 * for await (const ev of copperd.subscribe(["irq"])) console.log(ev);
 * ```
 *
 * @module
 */

export * from "./core/mod.ts";
export {
  connect,
  type ConnectOptions,
  connectService,
  listenService,
  platformFor,
  type ServeOptions,
} from "./runtime.ts";
