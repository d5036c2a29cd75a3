/**
 * Node example: the typed copperd client from the npm package. Connects to copperd (a simulated
 * one works: `deno run -A sdk/ts/sim/cli.ts all --dir /tmp/sims`), pings it, loads and starts a
 * Copper program, takes 3 `irq` events from a subscription and stops the program.
 *
 *   node npm/build.mjs                                  # builds the package into dist/npm
 *   node examples/node/client.mjs /tmp/sims/copperd.sock   # or COPPERD_SOCKET=… node examples/node/client.mjs
 *
 * In your own project, after `npm install @copperline/ports`, import from "@copperline/ports" and
 * "@copperline/ports/services/copperd" instead of the dist/npm paths below.
 */

import { RemoteError } from "../../dist/npm/mod.js";
import { CopperdClient } from "../../dist/npm/services/copperd.js";

// Address: argument, else $COPPERD_SOCKET, else /run/copperline/copperd.sock.
const copperd = await CopperdClient.connect(process.argv[2]);
try {
  const pong = await copperd.ping();
  console.log(`ping → ${pong.name} ${pong.version} (protocol ${pong.protocol})`);

  const { id } = await copperd.load({
    program: {
      version: 1,
      program: [
        { op: "MOVE", reg: "layer[1].x", value: 100 },
        { label: "loop" },
        { op: "WAIT", vsync: true },
        { op: "ADD", reg: "layer[1].x", delta: 4 },
        { op: "IRQ", tag: "tick" },
        { op: "JUMP", label: "loop" },
      ],
    },
  });
  console.log(`load → program ${id}`);

  const irqs = copperd.subscribe(["irq"], { tag: "tick" }); // server-side filter on the tag
  await irqs.ready;
  await copperd.start({ id });
  console.log("start → running");

  let n = 0;
  for await (const ev of irqs) {
    console.log(`irq   → ${JSON.stringify(ev)}`);
    if (++n === 3) break; // leaving the loop unsubscribes
  }

  await copperd.stop({ id });
  console.log(`stop  → ${(await copperd.status({ id })).state}`);

  try {
    await copperd.start({ id: 9999 });
  } catch (e) {
    if (!(e instanceof RemoteError)) throw e;
    console.log(`start 9999 → ${e.code}: ${e.message}`); // typed error from the service
  }
} finally {
  await copperd.close();
}
