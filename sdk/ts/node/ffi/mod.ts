/**
 * The FFI side of the Node platform: the platform itself and the memfd helpers.
 *
 * @module
 */

export {
  createNodeFfiPlatform,
  type FfiConnectionSink,
  FfiConnection,
  type NodeFfiOptions,
  type NodeFfiPlatform,
  nodeFfiPlatform,
  SCM_MAX_FD,
} from "./platform.ts";
export { NodeFdHandle } from "./fd_handle.ts";
export { createMemfd, fdSize, readFd, writeFd } from "./memfd.ts";
export { reactor, Reactor, type ReactorMode } from "./reactor.ts";
