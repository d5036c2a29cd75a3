// Child process for platform_test.ts: connects, does one round trip (optionally with an FD), then
// closes. Mode "unref": the connection stays open but unref'd; the process must still exit.
import { createMemfd, ffiPlatform } from "../mod.ts";

const [address, mode] = Deno.args;
const listener = mode === "self"
  ? await ffiPlatform.listen(address, (c) => {
    c.start({
      data(chunk, fds) {
        for (const h of fds ?? []) h.close();
        c.write(chunk);
      },
      closed() {
        c.close();
      },
    });
  })
  : undefined;
const conn = await ffiPlatform.connect(address);
const got = new Promise<string>((resolve) => {
  conn.start({
    data(chunk) {
      resolve(new TextDecoder().decode(chunk));
    },
    closed() {},
  });
});
using memfd = createMemfd("child", 1);
await conn.write(new TextEncoder().encode("ping\n"), [memfd.fd]);
console.log(`reply: ${(await got).trim()}`);
if (mode === "unref") {
  conn.ref?.(false);
} else {
  conn.close();
}
await listener?.close();
