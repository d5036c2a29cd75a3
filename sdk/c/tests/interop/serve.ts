// Interop server for `make -C sdk/c interop`: the TypeScript PortServer on the Deno FFI platform
// (FD passing), serving a few commands and the "tick" event. Usage: deno run -A serve.ts ADDRESS
import { PortServer } from "../../../ts/core/server.ts";
import type { ServerDescriptor } from "../../../ts/core/descriptor.ts";
import type { FdHandle } from "../../../ts/core/transport.ts";
import { createMemfd, fdSize, ffiPlatform, readFd, writeFd } from "../../../ts/deno/ffi/mod.ts";

const descriptor: ServerDescriptor = {
  name: "interop",
  version: "1.0.0",
  protocol: 0,
  fdPassing: true,
  commands: { echo: {}, fdsum: { fds: true }, fdmake: { fds: true }, burst: {} },
  events: { tick: { filters: ["k"] } },
  schema: { name: "interop" },
  validateArgs: {
    echo: () => undefined,
    fdsum: () => undefined,
    fdmake: () => undefined,
    burst: () => undefined,
  },
};
const server: PortServer = new PortServer(descriptor, {
  echo: (a: unknown) => a,
  fdsum: ({ fd }: { fd: FdHandle }) => {
    const bytes = readFd(fd, fdSize(fd), 0);
    let sum = 0;
    for (const b of bytes) sum += b;
    return { sum, size: bytes.length };
  },
  fdmake: ({ text }: { text: string }) => {
    const bytes = new TextEncoder().encode(text);
    const fd = createMemfd("made", bytes.length);
    writeFd(fd, bytes, 0);
    return { fd };
  },
  burst: ({ n }: { n: number }) => {
    for (let k = 0; k < n; k++) server.emit("tick", { k });
    return { sent: n };
  },
});
const address = Deno.args[0];
await ffiPlatform.listen(address, (c) => server.accept(c), { fdPassing: true });
console.log("listening");
