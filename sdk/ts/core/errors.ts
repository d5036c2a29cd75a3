/**
 * Typed errors of the ports protocol. Every error the SDK produces is a {@linkcode PortError}
 * carrying a protocol `code` (see schemas/PROTOCOL.md §6).
 *
 * @module
 */

/** Error codes defined by the ports README and schemas/PROTOCOL.md. Services may add their own. */
export const ErrorCode = {
  BAD_CMD: "BAD_CMD",
  BAD_ARG: "BAD_ARG",
  NOT_FOUND: "NOT_FOUND",
  DENIED: "DENIED",
  BUSY: "BUSY",
  TIMEOUT: "TIMEOUT",
  INTERNAL: "INTERNAL",
  BAD_FRAME: "BAD_FRAME",
  TOO_LARGE: "TOO_LARGE",
  BAD_FD: "BAD_FD",
  CANCELLED: "CANCELLED",
  /** Client side only: the connection closed before the answer arrived. */
  CLOSED: "CLOSED",
} as const;

/** One of the protocol's own codes. */
export type ProtocolErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** Options for {@linkcode PortError}. */
export interface PortErrorOptions {
  /** Structured detail (sent as `error.data`). */
  data?: unknown;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An error with a protocol code. Throw it from a server handler to answer with that code;
 * clients reject with it (or a subclass) when a call fails.
 *
 * @example Answer NOT_FOUND from a handler
 * ```ts
 * import { PortError } from "./errors.ts";
 * const err = new PortError("NOT_FOUND", "No program 7");
 * if (err.code !== "NOT_FOUND") throw new Error("unexpected");
 * ```
 */
export class PortError extends Error {
  /** The protocol error code, e.g. `BAD_ARG`. */
  readonly code: string;
  /** Structured detail, if any. */
  readonly data?: unknown;

  /**
   * @param code Upper-snake-case protocol code.
   * @param message Sentence-case message without a trailing period.
   * @param options Detail and cause.
   */
  constructor(code: string, message: string, options?: PortErrorOptions) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "PortError";
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
  }
}

/** The server answered `ok: false`. */
export class RemoteError extends PortError {
  /** The command that failed. */
  readonly cmd: string;
  /**
   * @param cmd The command.
   * @param code Code from the response.
   * @param message Message from the response.
   * @param data `error.data` from the response.
   */
  constructor(cmd: string, code: string, message: string, data?: unknown) {
    super(code, message, { data });
    this.name = "RemoteError";
    this.cmd = cmd;
  }
}

/** A call did not complete within its deadline (client side). */
export class TimeoutError extends PortError {
  /**
   * @param message What timed out.
   */
  constructor(message: string) {
    super(ErrorCode.TIMEOUT, message);
    this.name = "TimeoutError";
  }
}

/** The connection closed (or was never open) while a call needed it. */
export class ClosedError extends PortError {
  /**
   * @param message What was interrupted.
   * @param cause The transport error, if any.
   */
  constructor(message: string, cause?: unknown) {
    super(ErrorCode.CLOSED, message, { cause });
    this.name = "ClosedError";
  }
}

/** The peer sent something that is not ports v0 (a bad frame, an answer to no request). */
export class ProtocolError extends PortError {
  /**
   * @param code `BAD_FRAME`, `TOO_LARGE` or `BAD_FD`.
   * @param message What was wrong.
   */
  constructor(code: string, message: string) {
    super(code, message);
    this.name = "ProtocolError";
  }
}

/** Turns an unknown thrown value into a message string. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
