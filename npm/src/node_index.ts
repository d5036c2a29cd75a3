/**
 * `@copperline/ports/node`: the Node platforms and the memfd helpers.
 *
 * - `nodePlatform` (`node:net`, path sockets) and `nodeFfiPlatform` (libc through koffi: SCM_RIGHTS
 *   descriptor passing, exact-length abstract `@name` sockets).
 * - `createMemfd`, `writeFd`, `readFd`, `fdSize`: shared memory for FD-carrying commands, with the
 *   same names and signatures as on Deno. They return and take owned `FdHandle`s
 *   (`close()`, `using`, `keep()`, `take()`).
 *
 * Importing this entry loads koffi (the memfd helpers call libc). The package root
 * (`@copperline/ports`) does not: it loads koffi only when a connection needs descriptors or an
 * abstract address.
 *
 * @module
 */

export * from "./mod.ts";
export { createMemfd, fdSize, NodeFdHandle, readFd, writeFd } from "./ffi/mod.ts";
