/**
 * Serves the echo test service on a socket until SIGTERM/SIGINT:
 * `deno run -A tests/echo_main.ts /tmp/echo.sock [--caps]`. Prints `ready` when listening.
 *
 * @module
 */

import { startEcho } from "./echo_impl.ts";

const [address, ...flags] = Deno.args;
if (!address) {
  console.error("usage: echo_main.ts SOCKET [--caps]");
  Deno.exit(2);
}
const server = await startEcho(address, {
  onError: () => {},
  capabilities: flags.includes("--caps") ? { "tok-math": ["math"], "tok-all": ["*"] } : undefined,
});
console.log("ready");
const stop = async () => {
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
