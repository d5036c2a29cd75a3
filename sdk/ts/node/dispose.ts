/**
 * Makes sure `Symbol.dispose` exists before any class that implements `FdHandle` is defined.
 * Node 20.4+ defines it (as `Symbol(nodejs.dispose)`, the registered symbol `nodejs.dispose`);
 * on older runtimes this installs the same registered symbol, so `using` down-levelled by tsc and
 * Node's own code agree on one key.
 *
 * @module
 */

const S = Symbol as unknown as { dispose?: symbol; asyncDispose?: symbol };
if (typeof S.dispose !== "symbol") {
  Object.defineProperty(Symbol, "dispose", {
    value: Symbol.for("nodejs.dispose"),
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
if (typeof S.asyncDispose !== "symbol") {
  Object.defineProperty(Symbol, "asyncDispose", {
    value: Symbol.for("nodejs.asyncDispose"),
    writable: false,
    enumerable: false,
    configurable: false,
  });
}

/** The key `FdHandle` implementations use for their dispose method. */
export const disposeSymbol: typeof Symbol.dispose = Symbol.dispose;
