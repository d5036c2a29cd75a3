/**
 * Child process for the exit tests (not a test file): `node fixture_child.js <address> <mode>`.
 *
 * - `roundtrip`: connect (FFI), send a line, wait for the echo, close. Must then exit by itself.
 * - `unref`: connect, get one echo, `ref(false)` and leave the connection open. Must exit.
 * - `server`: listen on the address, echo one connection until the peer closes, close the
 *   listener. Prints `listening` once ready. Must then exit.
 *
 * @module
 */

import type { Connection } from "../../core/transport.ts";
import { nodeFfiPlatform } from "./mod.ts";

const [address, mode] = process.argv.slice(2);
const line = new TextEncoder().encode("hello from the child\n");

function echoOnce(connection: Connection): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    connection.start({
      data(chunk) {
        got += chunk.length;
        if (got >= line.length) resolve();
      },
      closed(error) {
        if (got < line.length) reject(error ?? new Error("closed before the echo"));
      },
    });
    const p = connection.write(line);
    if (p) p.catch(reject);
  });
}

if (mode === "roundtrip" || mode === "unref") {
  const connection = await nodeFfiPlatform.connect(address);
  await echoOnce(connection);
  if (mode === "roundtrip") connection.close();
  else connection.ref!(false);
  process.stdout.write("done\n");
} else if (mode === "server") {
  const listener = await nodeFfiPlatform.listen(address, (connection) => {
    connection.start({
      data(chunk) {
        connection.write(chunk);
      },
      closed() {
        void listener.close();
        process.stdout.write("done\n");
      },
    });
  });
  process.stdout.write("listening\n");
} else {
  throw new Error(`unknown mode ${mode}`);
}
