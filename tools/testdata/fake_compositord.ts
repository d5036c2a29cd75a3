/**
 * A compositord that implements only `bind_dmabuf` (it reports the size of the descriptor it
 * got), for portctl's `--fd` tests. Other commands answer INTERNAL.
 *
 * @module
 */

import {
  type CompositordHandlers,
  CompositordServer,
} from "../../sdk/ts/services/compositord_server.ts";
import { PortError } from "../../sdk/ts/core/errors.ts";
import { fdSize } from "../../sdk/ts/deno/ffi/memfd.ts";

/** Starts the fake compositord on `address` (FD-capable transport). */
export function startFakeCompositord(address: string): Promise<CompositordServer> {
  const handlers = new Proxy({
    bind_dmabuf: (args: { id: number; fd: import("../../sdk/ts/core/transport.ts").FdHandle }) => ({
      id: args.id,
      bytes: fdSize(args.fd),
      checksum: "00000000",
    }),
  }, {
    get: (target, name) =>
      (target as Record<string | symbol, unknown>)[name] ??
        (() => {
          throw new PortError("INTERNAL", `${String(name)} is not simulated`);
        }),
  }) as unknown as CompositordHandlers;
  return CompositordServer.serve(handlers, { address, onError: () => {} });
}
