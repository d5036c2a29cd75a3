/**
 * The bench's servers, one per child process: `node bench/node/server.mjs MODE SOCKET`, prints
 * `ready` when listening.
 *
 * - raw:     a hand-written node:net NDJSON ping-pong (JSON.parse per line, the args echoed as the
 *            result, one write per batch of responses) — no SDK;
 * - stub:    the generated echo stub served by the package (node:net, fdPassing off);
 * - stub-fd: the same stub on the FD-capable transport (node-ffi: libc through koffi);
 * - jsonrpc: vscode-jsonrpc over the same kind of Unix socket, an `echo` request handler.
 */

import net from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../../build/node-pkg-tests/lib/", import.meta.url));
const [mode, address] = process.argv.slice(2);

function rawServer(path) {
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      let rest = "";
      socket.setEncoding("utf8");
      socket.on("data", (text) => {
        text = rest + text;
        const last = text.lastIndexOf("\n");
        if (last < 0) {
          rest = text;
          return;
        }
        rest = text.slice(last + 1);
        let out = "";
        for (const line of text.slice(0, last).split("\n")) {
          const m = JSON.parse(line);
          out += JSON.stringify({ ok: true, id: m.id, result: m.args }) + "\n";
        }
        socket.write(out);
      });
      socket.on("error", () => {});
    });
    server.listen(path, () => resolve(server));
  });
}

async function jsonrpcServer(path) {
  const rpcModule = await import("vscode-jsonrpc/node");
  const rpc = rpcModule.default ?? rpcModule;
  return new Promise((resolve) => {
    const server = net.createServer((socket) => {
      const conn = rpc.createMessageConnection(
        new rpc.StreamMessageReader(socket),
        new rpc.StreamMessageWriter(socket),
      );
      conn.onRequest("echo", (params) => params);
      conn.onClose(() => conn.dispose());
      socket.on("error", () => {});
      conn.listen();
    });
    server.listen(path, () => resolve(server));
  });
}

async function stub(path, fdPassing) {
  const { startNodeEcho } = await import(join(LIB, "echo_node.js"));
  return startNodeEcho(path, { fdPassing });
}

if (mode === "raw") await rawServer(address);
else if (mode === "jsonrpc") await jsonrpcServer(address);
else if (mode === "stub") await stub(address, false);
else if (mode === "stub-fd") await stub(address, true);
else {
  console.error("usage: server.mjs raw|stub|stub-fd|jsonrpc SOCKET");
  process.exit(2);
}
console.log("ready");
process.on("SIGTERM", () => process.exit(0));
