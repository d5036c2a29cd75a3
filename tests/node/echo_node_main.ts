/**
 * Serves the Node echo stub until SIGTERM/SIGINT:
 * `node build/node-pkg-tests/lib/echo_node_main.js SOCKET [--caps]` (compiled from
 * tests/node/echo_node_main.ts by tests/node/prepare.mjs). Prints `ready` when listening.
 *
 * @module
 */

import { startNodeEcho } from "./echo_node.ts";

const [address, ...flags] = process.argv.slice(2);
if (!address) {
  console.error("usage: echo_node_main.js SOCKET [--caps]");
  process.exit(2);
}
const server = await startNodeEcho(address, {
  capabilities: flags.includes("--caps") ? { "tok-math": ["math"], "tok-all": ["*"] } : undefined,
});
console.log("ready");
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
