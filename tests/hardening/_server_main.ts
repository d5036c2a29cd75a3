/**
 * Runs the hardening test service in its own process:
 * `deno run -A tests/hardening/_server_main.ts <address> [server-options-json]`.
 * Prints `LISTENING <pid>` once ready; exits on SIGTERM/SIGINT.
 *
 * @module
 */

import { type HandlerLog, hardDescriptor, hardHandlers } from "./_fixture.ts";
import { PortServer } from "../../sdk/ts/mod.ts";
import { denoPlatform } from "../../sdk/ts/deno/net_platform.ts";

const [address, json] = Deno.args;
const options = json ? JSON.parse(json) : {};
const log: HandlerLog = { aborted: new Map(), started: [], onStart: [] };
const server: PortServer = new PortServer(hardDescriptor, hardHandlers(() => server, log), {
  onError: () => {},
  ...options,
});
const listener = await denoPlatform.listen(address, (c) => server.accept(c));
// Keep the handler log from growing in long runs.
setInterval(() => {
  log.aborted.clear();
  log.started.length = 0;
}, 1000);
const stop = async () => {
  await listener.close();
  await server.close(200);
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
console.log(`LISTENING ${Deno.pid}`);
