/**
 * The echo test service implemented on Node: `EchoHandlers` of the generated stub (codegen with
 * `--runtime @copperline/ports`) with the package's Node memfd helpers. The same behaviour as the
 * Deno implementation (tests/echo_impl.ts), so the same golden wire cases hold for both.
 *
 * tests/node/prepare.mjs compiles it with the generated code into build/node-pkg-tests/lib/, where
 * `@copperline/ports` resolves to dist/npm by its package name (and is type-checked against its
 * .d.ts).
 *
 * @module
 */

import { PortError, type RequestContext, type ServeOptions } from "@copperline/ports";
import { createMemfd, fdSize, readFd, writeFd } from "@copperline/ports/node";
import { type EchoHandlers, EchoServer } from "./echo_server.ts";

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
      for (let i = 1; i <= count; i++) {
        emitted += s.emit("tick", tag === undefined ? { n: i } : { n: i, tag });
      }
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
      const fd = createMemfd("echo-node", bytes.length);
      writeFd(fd, bytes, 0);
      return { fd };
    },
    legacy: () => ({}),
  };
}

/**
 * Serves echo on `address` from this Node process.
 *
 * @param address Socket path or `@abstract` name.
 * @param options Server options (caps, limits); handler failures are not logged unless `onError` is given.
 */
export async function startNodeEcho(
  address: string,
  options: ServeOptions = {},
): Promise<EchoServer> {
  const ref: { server?: EchoServer } = {};
  const handlers = echoHandlers(() => ref.server!);
  ref.server = await EchoServer.serve(handlers, { onError: () => {}, ...options, address });
  return ref.server;
}
