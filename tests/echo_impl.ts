/**
 * The echo test service's implementation, shared by the Deno tests, the wire-case replays and the
 * cross-language tests (Node and C clients talk to it through tests/echo_main.ts).
 *
 * @module
 */

import { PortError, type RequestContext, type ServeOptions } from "../sdk/ts/mod.ts";
import { type EchoHandlers, EchoServer } from "./golden/ts/echo_server.ts";
import { createMemfd, fdSize, readFd, writeFd } from "../sdk/ts/deno/ffi/mod.ts";

/** Handlers of the echo service; `server()` gives access to emit. */
export function echoHandlers(server: () => EchoServer): EchoHandlers {
  return {
    echo: (args) => args,
    add: ({ a, b }) => ({ sum: a + b }),
    slow: ({ ms }, ctx: RequestContext) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve({ waited: ms }), ms);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(ctx.signal.reason);
        }, { once: true });
      }),
    fail: ({ code }) => {
      if (code === "INTERNAL") throw new Error("deliberate failure");
      throw new PortError(code, code === "TEAPOT" ? "I am a teapot" : "Nothing here");
    },
    emit: ({ count, tag }) => {
      const s = server();
      let emitted = 0;
      for (let i = 1; i <= count; i++) emitted += s.emit("tick", tag === undefined ? { n: i } : { n: i, tag });
      return { emitted };
    },
    fdsum: ({ fd }) => {
      const size = fdSize(fd);
      const bytes = readFd(fd, size, 0);
      let sum = 0;
      for (const b of bytes) sum += b;
      return { sum, size };
    },
    fdmake: ({ text }) => {
      const bytes = new TextEncoder().encode(text);
      const fd = createMemfd("echo", bytes.length);
      writeFd(fd, bytes, 0);
      return { fd };
    },
    legacy: () => ({}),
  };
}

/**
 * Starts the echo service.
 *
 * @param address Socket address.
 * @param options Server options (limits, caps...).
 */
export async function startEcho(address: string, options: ServeOptions = {}): Promise<EchoServer> {
  const server: EchoServer = new EchoServer(echoHandlers(() => server), options);
  const { listenService } = await import("../sdk/ts/mod.ts");
  const { echoServerDescriptor } = await import("./golden/ts/echo_server.ts");
  return await listenService(server, echoServerDescriptor, { ...options, address });
}
