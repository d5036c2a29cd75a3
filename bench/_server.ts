// Bench servers, run as child processes: `_server.ts raw|sdk SOCKET`. Prints "ready".
import { rawServer } from "./_raw.ts";
import { startEcho } from "../tests/echo_impl.ts";

const [mode, path] = Deno.args;
if (mode === "raw") {
  rawServer(path);
} else {
  await startEcho(path, { maxQueuedEvents: 1 << 20, fdPassing: mode === "sdk-fd" });
}
console.log("ready");
