/**
 * A small copperd built from the generated stub, for portctl and shell tests (until
 * sdk/ts/sim lands). `deno run -A tools/testdata/fake_copperd.ts SOCKET` prints "ready" once it
 * listens; it emits an irq event (tag "tick") and a vsync every 20 ms while subscribed.
 *
 * @module
 */

import { CopperdServer } from "../../sdk/ts/services/copperd_server.ts";
import { PortError } from "../../sdk/ts/core/errors.ts";

/** Starts the fake copperd on `address`. */
export async function startFakeCopperd(address: string): Promise<CopperdServer> {
  const programs = new Map<number, "running" | "stopped">();
  let next = 1;
  const find = (id: number) => {
    if (!programs.has(id)) throw new PortError("NOT_FOUND", `No program ${id}`);
    return id;
  };
  const server = await CopperdServer.serve({
    load: () => {
      const id = next++;
      programs.set(id, "stopped");
      return { id };
    },
    start: ({ id }) => {
      programs.set(find(id), "running");
      return {};
    },
    stop: ({ id }) => {
      programs.set(find(id), "stopped");
      return {};
    },
    unload: ({ id }) => {
      programs.delete(find(id));
      return {};
    },
    list: () => ({ programs: [...programs].map(([id, state]) => ({ id, state })) }),
    status: ({ id }) => ({ id: find(id), state: programs.get(id)! }),
  }, { address, onError: () => {} });
  let frame = 0;
  const timer = setInterval(() => {
    frame++;
    if (server.hasSubscribers("vsync")) server.emit("vsync", { usec: frame * 16667, frame });
    if (server.hasSubscribers("irq")) {
      server.emit("irq", { tag: frame % 2 ? "tick" : "tock", prog: 1, usec: frame * 16667 });
    }
  }, 20);
  const close = server.close.bind(server);
  server.close = async () => {
    clearInterval(timer);
    await close();
  };
  return server;
}

if (import.meta.main) {
  const server = await startFakeCopperd(Deno.args[0]);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, async () => {
      await server.close();
      Deno.exit(0);
    });
  }
  console.log("ready");
}
