/**
 * portctl: discover and drive any ports v0 service from a shell.
 *
 * ```sh
 * deno task portctl copperd describe                      # commands and events as a table
 * deno task portctl copperd status id=1                   # typed call, result as one JSON line
 * deno task portctl /run/copperline/copperd.sock '{"cmd":"ping"}'   # the seed's raw form
 * deno task portctl copperd subscribe events=irq --count 3 | jq -r .tag
 * ```
 *
 * Run `portctl --help` for every form, option and exit status. Never prints a stack trace: every
 * failure is one line on stderr and a distinct exit status (see {@linkcode EXIT}).
 *
 * @module
 */

import { lstatSync, statSync, writeSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect, platformFor } from "../sdk/ts/runtime.ts";
import { Channel } from "../sdk/ts/core/channel.ts";
import { ClosedError, errorMessage, RemoteError, TimeoutError } from "../sdk/ts/core/errors.ts";
import { envVariableFor } from "../sdk/ts/core/descriptor.ts";
import type { FdHandle } from "../sdk/ts/core/transport.ts";

/** Exit statuses. */
export const EXIT = {
  /** Success (a stream ended by --count, EOF or SIGINT/SIGTERM is a success too). */
  OK: 0,
  /** The service answered with an error response (stderr: `CODE: message`). */
  ERROR: 1,
  /** Usage: bad flags, bad key=value, invalid JSON, unknown command/argument/event name. */
  USAGE: 2,
  /** Connection: missing socket, refused, unknown service with no socket, closed early. */
  CONNECT: 3,
  /** No response within --timeout. */
  TIMEOUT: 4,
} as const;

export const USAGE = `Usage:
  portctl <service|socket> '<json>'                    send one raw request, print the response
  portctl <service|socket> <command> [key=value ...]   typed call, arguments checked by describe
  portctl <service|socket> describe [--json]           commands and events as tables (--json: raw)
  portctl <service|socket> subscribe events=a,b [filter=value ...]   print events as they come

Target:
  a path (contains "/", or an existing file), "@name" for a Linux abstract socket, or a service
  name, resolved to $<SERVICE>_SOCKET (copperd -> COPPERD_SOCKET, compat-uae -> COMPAT_UAE_SOCKET),
  then /run/copperline/<service>.sock.

Raw form:
  The JSON is sent as is (an "id" is added when missing); the whole response line is printed.
  Flat legacy forms such as {"cmd":"start","id":1} get the server's BAD_ARG saying to use "args".

Typed form:
  key=value     the value is JSON when it parses (1, true, null, [1,2], {"a":1}), else a string;
                a string-typed argument keeps the text as typed (name=123 sends "123")
  a.b=value     dotted keys build nested objects (dst.w=128 dst.h=64)
  key:=json     the value must be JSON
  The result object is printed. Unknown commands and argument names are refused before sending,
  with the closest valid name suggested. "subscribe" streams events (one JSON object per line);
  events=irq,state takes a comma-separated list or a JSON array; other keys are filters.

Options:
  --stream          raw form: after the response, keep printing events (until EOF, SIGINT/SIGTERM
                    or --count)
  --count N         stop after N events (implies --stream)
  --pretty          indented JSON instead of one compact object per line
  --json            describe: print the raw describe result
  --caps TOKEN      capability token (repeat for several)
  --fd PATH         pass a file as a descriptor (SCM_RIGHTS); in the typed form it fills the
                    command's only descriptor argument; in the raw form it is {"fd_index": i} in
                    the order given (repeatable)
  --fd FIELD=PATH   typed form: set argument FIELD (dotted) to the opened file
  --timeout SEC     seconds to wait for a response (default 10; "500ms" also works; 0 = forever)
  -h, --help        this help

Exit status:
  0  success
  1  error response from the service (stderr: CODE: message)
  2  usage: bad option, bad key=value, invalid JSON, unknown command/argument/event (did you mean)
  3  connection: missing socket, connection refused, unknown service without a socket, closed
  4  timeout: no response within --timeout

Examples (COPPERD_SOCKET / COMPOSITORD_SOCKET name the sockets when not in /run/copperline):
  portctl copperd describe
  portctl copperd ping
  portctl "$COPPERD_SOCKET" '{"cmd":"ping"}'
  portctl copperd load program:='{"version":1,"program":[{"label":"top"},{"op":"WAIT","vsync":true},{"op":"IRQ","tag":"tick"},{"op":"JUMP","label":"top"}]}'
  portctl copperd start id=1
  portctl copperd status id=1 --pretty
  portctl copperd list --caps tok-1
  portctl copperd subscribe events=irq tag=tick --count 3 | jq -r .tag
  portctl copperd '{"cmd":"subscribe","args":{"events":["vsync"]}}' --stream --count 2
  portctl compositord create_layer
  portctl compositord bind_dmabuf id=1 w=2 h=2 format=RGBA8 stride=8 --fd frame.raw
`;

/** A failure with its exit status and one-line message. */
export class Fail extends Error {
  /**
   * @param exit Exit status.
   * @param message The line printed on stderr.
   */
  constructor(readonly exit: number, message: string) {
    super(message);
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

const encoder = new TextEncoder();

/** Writes all of `text` to descriptor 1 or 2 synchronously (Deno and Node; retries EAGAIN). */
function writeAll(fd: 1 | 2, text: string): void {
  const bytes = encoder.encode(text);
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (error) {
      if ((error as { code?: string })?.code !== "EAGAIN") throw error;
    }
  }
}

function isBrokenPipe(error: unknown): boolean {
  const e = error as { code?: string; name?: string };
  return e?.code === "EPIPE" || e?.name === "BrokenPipe";
}

function out(value: unknown, pretty: boolean): void {
  outText((pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)) + "\n");
}

function outText(text: string): void {
  try {
    writeAll(1, text);
  } catch (error) {
    // A closed pipe (`| head -1`) ends the output quietly.
    if (isBrokenPipe(error)) process.exit(EXIT.OK);
    throw error;
  }
}

function err(line: string): void {
  try {
    writeAll(2, line + "\n");
  } catch { /* nothing left to report to */ }
}

/** Edit distance with transpositions (optimal string alignment), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => [i, ...Array(b.length).fill(0)],
  );
  for (let j = 0; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** "; did you mean "x"? (valid: a, b, c)" for an unknown name. */
export function didYouMean(name: string, valid: string[]): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of valid) {
    const dd = distance(name, n);
    if (dd < bestD) [best, bestD] = [n, dd];
  }
  const close = best !== undefined &&
    (bestD <= Math.max(2, Math.floor(name.length / 3)) || best.startsWith(name));
  const list = valid.length > 0 ? `valid: ${valid.join(", ")}` : "none are declared";
  return close ? `; did you mean "${best}"? (${list})` : ` (${list})`;
}

// ---------------------------------------------------------------------------------------------
// Addresses

/**
 * Resolves a target to a socket address: a path or `@name` as given, else a service name through
 * `<SERVICE>_SOCKET` and `/run/copperline/<service>.sock`.
 *
 * @param target The first positional argument.
 * @param env Reads an environment variable.
 * @param exists Whether a path exists.
 */
export function resolveTarget(
  target: string,
  env: (name: string) => string | undefined = (n) => process.env[n],
  exists: (path: string) => boolean = pathExists,
): { address: string; service?: string } {
  if (target === "") throw new Fail(EXIT.USAGE, "portctl: empty service or socket name");
  if (target.startsWith("@") || target.includes("/") || exists(target)) return { address: target };
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(target)) {
    throw new Fail(
      EXIT.CONNECT,
      `portctl: "${target}" is neither a socket path nor a service name`,
    );
  }
  const variable = envVariableFor(target);
  const fromEnv = env(variable);
  if (fromEnv) return { address: fromEnv, service: target };
  const path = `/run/copperline/${target}.sock`;
  if (!exists(path)) {
    throw new Fail(
      EXIT.CONNECT,
      `portctl: unknown service "${target}": no socket (set ${variable}, or start it on ${path})`,
    );
  }
  return { address: path, service: target };
}

function pathExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// key=value

/**
 * Parses `key=value` / `key:=json` words into an arguments object. Values are JSON when they
 * parse, else strings; `raw` records the text of every auto-parsed leaf (for schema coercion).
 *
 * @param words The words after the command.
 */
export function parseKeyValues(
  words: string[],
): { args: Record<string, Json>; raw: Map<string, string> } {
  const args: Record<string, Json> = {};
  const raw = new Map<string, string>();
  const seen = new Set<string>();
  for (const word of words) {
    const eq = word.indexOf("=");
    if (eq <= 0) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: bad argument "${word}": expected key=value or key:=json`,
      );
    }
    let key = word.slice(0, eq);
    const text = word.slice(eq + 1);
    let value: Json;
    if (key.endsWith(":")) {
      key = key.slice(0, -1);
      try {
        value = JSON.parse(text);
      } catch (error) {
        throw new Fail(
          EXIT.USAGE,
          `portctl: bad value for "${key}": invalid JSON (${cleanJsonError(error)})`,
        );
      }
    } else {
      try {
        value = text === "" ? "" : JSON.parse(text);
      } catch {
        value = text;
      }
      if (typeof value !== "string") raw.set(key, text);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/.test(key)) {
      throw new Fail(EXIT.USAGE, `portctl: bad argument name "${key}" in "${word}"`);
    }
    if (seen.has(key)) throw new Fail(EXIT.USAGE, `portctl: argument "${key}" is given twice`);
    seen.add(key);
    const parts = key.split(".");
    let node: Record<string, Json> = args;
    for (let i = 0; i < parts.length - 1; i++) {
      const p = parts[i];
      if (node[p] === undefined) node[p] = {};
      else if (node[p] === null || typeof node[p] !== "object" || Array.isArray(node[p])) {
        throw new Fail(
          EXIT.USAGE,
          `portctl: argument "${parts.slice(0, i + 1).join(".")}" is both a value and an object`,
        );
      }
      node = node[p];
    }
    const last = parts[parts.length - 1];
    if (node[last] !== undefined) {
      throw new Fail(EXIT.USAGE, `portctl: argument "${key}" is both a value and an object`);
    }
    node[last] = value;
  }
  return { args, raw };
}

function cleanJsonError(error: unknown): string {
  return errorMessage(error).replace(/^JSON\.parse: /, "").replace(
    /\s*\(line \d+ column \d+\)$/,
    "",
  );
}

// ---------------------------------------------------------------------------------------------
// Schema helpers (the describe result)

function deref(node: Json, defs: Record<string, Json>, depth = 0): Json {
  while (node && typeof node.$ref === "string" && depth++ < 32) {
    node = defs[node.$ref.replace("#/definitions/", "")];
  }
  return node;
}

/** The candidate object schemas at a node (itself, or its oneOf/anyOf/allOf branches). */
function objectBranches(node: Json, defs: Record<string, Json>): Json[] {
  node = deref(node, defs);
  if (!node || typeof node !== "object") return [];
  const out: Json[] = [];
  if (node.properties || node.type === "object") out.push(node);
  for (const k of ["oneOf", "anyOf", "allOf"]) {
    if (Array.isArray(node[k])) { for (const b of node[k]) out.push(...objectBranches(b, defs)); }
  }
  return out;
}

/** Whether an object schema rejects unknown properties. */
function closed(node: Json): boolean {
  return node.additionalProperties === false && !node.patternProperties;
}

/**
 * Finds the schema of a dotted path below an object schema. Returns `{node}` (possibly undefined
 * when the schema says nothing), or `{unknown, valid}` when a name is not allowed.
 */
function lookup(
  root: Json,
  path: string[],
  defs: Record<string, Json>,
): { node?: Json; unknown?: string; valid?: string[] } {
  let node: Json = root;
  for (let i = 0; i < path.length; i++) {
    const branches = objectBranches(node, defs);
    if (branches.length === 0) return {};
    const hit = branches.find((b) => b.properties && path[i] in b.properties);
    if (hit) {
      node = hit.properties[path[i]];
      continue;
    }
    if (branches.every(closed)) {
      const valid = [...new Set(branches.flatMap((b) => Object.keys(b.properties ?? {})))];
      return { unknown: path.slice(0, i + 1).join("."), valid };
    }
    return {};
  }
  return { node: deref(node, defs) };
}

function isStringSchema(node: Json): boolean {
  if (!node) return false;
  if (node.type === "string") return true;
  if (Array.isArray(node.enum) && node.enum.every((v: unknown) => typeof v === "string")) {
    return true;
  }
  return typeof node.const === "string";
}

function isFdSchema(node: Json): boolean {
  return node?.["x-fd"] === true;
}

/** A short type name for tables: `integer`, `string[]`, `Program`, `"a"|"b"`, `FD`. */
export function typeName(node: Json): string {
  if (!node || typeof node !== "object") return "any";
  if (node["x-fd"] === true) return "FD";
  if (typeof node.$ref === "string") return node.$ref.replace("#/definitions/", "");
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (Array.isArray(node.enum)) return node.enum.map((v: unknown) => JSON.stringify(v)).join("|");
  if (Array.isArray(node.oneOf ?? node.anyOf)) {
    return (node.oneOf ?? node.anyOf).map(typeName).join("|");
  }
  if (node.type === "array") return `${typeName(node.items)}[]`;
  if (Array.isArray(node.type)) return node.type.join("|");
  return node.type ?? "any";
}

function setPath(obj: Record<string, Json>, path: string[], value: Json): void {
  let node = obj;
  for (const p of path.slice(0, -1)) {
    if (node[p] === undefined || node[p] === null || typeof node[p] !== "object") node[p] = {};
    node = node[p];
  }
  node[path[path.length - 1]] = value;
}

function getPath(obj: Json, path: string[]): Json {
  let node = obj;
  for (const p of path) node = node?.[p];
  return node;
}

/**
 * Checks typed-form arguments against a command's args schema: unknown names (with suggestions),
 * missing required arguments; keeps the text of string-typed arguments as typed.
 */
export function checkArgs(
  service: string,
  cmd: string,
  argsSchema: Json,
  defs: Record<string, Json>,
  args: Record<string, Json>,
  raw: Map<string, string>,
  fdFields: string[],
): void {
  const paths: string[][] = [];
  const walk = (v: Json, path: string[], schemaNode: Json) => {
    paths.push(path);
    const node = deref(schemaNode, defs);
    if (
      v !== null && typeof v === "object" && !Array.isArray(v) &&
      !fdFields.includes(path.join(".")) &&
      objectBranches(node, defs).length > 0 && !raw.has(path.join("."))
    ) {
      for (const k of Object.keys(v)) walk(v[k], [...path, k], lookup(node, [k], defs).node);
    }
  };
  for (const k of Object.keys(args)) {
    walk(args[k], [k], argsSchema ? lookup(argsSchema, [k], defs).node : undefined);
  }
  if (!argsSchema) {
    if (paths.length > 0) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: ${service} ${cmd} takes no arguments (got "${paths[0].join(".")}")`,
      );
    }
    return;
  }
  for (const path of paths) {
    const found = lookup(argsSchema, path, defs);
    if (found.unknown !== undefined) {
      const parent = found.unknown.split(".").slice(0, -1).join(".");
      const name = found.unknown.split(".").pop()!;
      throw new Fail(
        EXIT.USAGE,
        `portctl: unknown argument "${found.unknown}" for ${service} ${cmd}${
          parent ? ` (in "${parent}")` : ""
        }` +
          didYouMean(name, found.valid ?? []),
      );
    }
    const key = path.join(".");
    if (raw.has(key) && isStringSchema(found.node)) setPath(args, path, raw.get(key));
  }
  const root = deref(argsSchema, defs);
  for (const r of root?.required ?? []) {
    if (args[r] === undefined) {
      const prop = root.properties?.[r];
      const desc = prop?.description ? `: ${prop.description}` : "";
      throw new Fail(
        EXIT.USAGE,
        `portctl: missing required argument "${r}" (${
          typeName(prop)
        }${desc}) for ${service} ${cmd}`,
      );
    }
  }
}

/** Dotted names of the FD-typed fields of an args schema (following refs, not arrays). */
export function fdFieldsOf(
  argsSchema: Json,
  defs: Record<string, Json>,
  prefix: string[] = [],
  depth = 0,
): string[] {
  const out: string[] = [];
  if (depth > 8) return out;
  for (const b of objectBranches(argsSchema, defs)) {
    for (const [k, v] of Object.entries<Json>(b.properties ?? {})) {
      const node = deref(v, defs);
      if (isFdSchema(node)) out.push([...prefix, k].join("."));
      else out.push(...fdFieldsOf(node, defs, [...prefix, k], depth + 1));
    }
  }
  return [...new Set(out)];
}

// ---------------------------------------------------------------------------------------------
// describe tables

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) =>
    r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join("  ").trimEnd()
  )
    .join("\n") + "\n";
}

function notes(item: Json): string {
  const parts: string[] = [];
  if (item.deprecated) {
    parts.push(
      typeof item.deprecated === "string" ? `deprecated: ${item.deprecated}` : "deprecated",
    );
  }
  return parts.join("; ");
}

/** Renders a describe result as readable tables. */
export function describeTables(schema: Json): string {
  const defs = schema.definitions ?? {};
  let text = `${schema.service} ${schema.version} (protocol ${schema.protocol})`;
  if (schema.title && schema.title !== schema.service) {
    text += `: ${schema.title.replace(/^[^:]*:\s*/, "")}`;
  }
  text += "\n";
  if (schema.description) text += `${schema.description}\n`;
  const cmdRows = [["COMMAND", "ARGS", "CAPS", "SINCE", "NOTES"]];
  for (const [name, c] of Object.entries<Json>(schema.commands ?? {})) {
    const root = deref(c.args, defs);
    const req: string[] = root?.required ?? [];
    const args = Object.entries<Json>(root?.properties ?? {}).map(([k, v]) =>
      `${k}${req.includes(k) ? "*" : ""}:${typeName(v)}`
    );
    const fds = fdFieldsOf(c.args, defs);
    cmdRows.push([
      name,
      args.join(" ") || "-",
      (c.caps ?? []).join(",") || "-",
      c.since ?? "-",
      [notes(c), fds.length ? `FDs: ${fds.join(",")}` : ""].filter(Boolean).join("; "),
    ]);
  }
  text += `\n${table(cmdRows)}`;
  text += "(* required; built in: ping, describe, subscribe, unsubscribe, cancel)\n";
  const events = Object.entries<Json>(schema.events ?? {});
  if (events.length > 0) {
    const evRows = [["EVENT", "FIELDS", "FILTERS", "SINCE", "NOTES"]];
    for (const [name, e] of events) {
      const props = Object.entries<Json>(e.payload?.properties ?? {}).map(([k, v]) =>
        `${k}:${typeName(v)}`
      );
      evRows.push([
        name,
        props.join(" ") || "-",
        (e.filters ?? []).join(",") || "-",
        e.since ?? "-",
        [notes(e), e.caps?.length ? `subscribing needs caps: ${e.caps.join(",")}` : ""].filter(Boolean).join("; "),
      ]);
    }
    text += `\n${table(evRows)}`;
  }
  if (schema.limits) text += `\nlimits: ${JSON.stringify(schema.limits)}\n`;
  return text;
}

// ---------------------------------------------------------------------------------------------
// Files as descriptors

// deno-lint-ignore no-explicit-any
const g = globalThis as any;
let openLib: { symbols: { open(path: Uint8Array, flags: number): number } } | undefined;

/**
 * Opens a file read-only and returns an owned descriptor handle: libc `open` through Deno's FFI
 * on Deno (whose `node:fs` descriptors are not kernel descriptors), `fs.openSync` on Node.
 */
async function openFd(path: string): Promise<FdHandle> {
  try {
    if (statSync(path).isDirectory()) {
      throw new Fail(EXIT.USAGE, `portctl: --fd ${path}: is a directory`);
    }
  } catch (error) {
    if (error instanceof Fail) throw error;
    const code = (error as { code?: string })?.code;
    throw new Fail(
      EXIT.USAGE,
      `portctl: --fd ${path}: ${code === "ENOENT" ? "no such file" : errorMessage(error)}`,
    );
  }
  // The specifiers are computed so that neither type-checker follows the other runtime's code.
  if (g.Deno?.dlopen) {
    openLib ??= g.Deno.dlopen("libc.so.6", {
      open: { parameters: ["buffer", "i32"], result: "i32" },
    });
    const O_RDONLY = 0, O_CLOEXEC = 0o2000000;
    const fd = openLib!.symbols.open(encoder.encode(path + "\0"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw new Fail(EXIT.USAGE, `portctl: --fd ${path}: cannot open the file`);
    const base = "../sdk/ts/deno/ffi/";
    const { LibcFdHandle } = await import(base + "fd_handle.ts");
    return new LibcFdHandle(fd);
  }
  const { openSync } = await import("node:fs");
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new Fail(EXIT.USAGE, `portctl: --fd ${path}: ${errorMessage(error)}`);
  }
  const base = "../sdk/ts/node/ffi/";
  const { NodeFdHandle } = await import(base + "fd_handle.js");
  return new NodeFdHandle(fd);
}

// ---------------------------------------------------------------------------------------------
// Main

interface Options {
  stream: boolean;
  count?: number;
  pretty: boolean;
  json: boolean;
  caps?: string | string[];
  fd: string[];
  timeout: number;
}

function parseTimeout(text: string | undefined): number {
  if (text === undefined) return 10_000;
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
  if (!m) {
    throw new Fail(
      EXIT.USAGE,
      `portctl: bad --timeout "${text}": expected seconds (5, 0.5) or milliseconds (500ms)`,
    );
  }
  return m[2] === "ms" ? Number(m[1]) : Math.round(Number(m[1]) * 1000);
}

function connectFail(address: string, error: unknown): Fail {
  const code = (error as { code?: string })?.code;
  const reason = ({
    ENOENT: "no such socket",
    ECONNREFUSED: "connection refused (nobody listens)",
    EACCES: "permission denied",
    ENOTSOCK: "not a socket",
  } as Record<string, string>)[code ?? ""] ??
    ({
      NotFound: "no such socket",
      ConnectionRefused: "connection refused (nobody listens)",
    } as Record<
      string,
      string
    >)[(error as Error)?.name] ??
    errorMessage(error).replace(/^Cannot connect to "[^"]*": /, "");
  return new Fail(EXIT.CONNECT, `portctl: cannot connect to ${address}: ${reason}`);
}

function stopOnSignals(): void {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      process.on(sig, () => process.exit(EXIT.OK));
    } catch { /* not supported here */ }
  }
}

/** The raw (seed) form: one JSON request line, printed response, optional event stream. */
async function rawForm(address: string, text: string, o: Options): Promise<number> {
  let msg: Json;
  try {
    msg = JSON.parse(text);
  } catch (error) {
    throw new Fail(EXIT.USAGE, `portctl: invalid JSON request: ${cleanJsonError(error)}`);
  }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) {
    throw new Fail(
      EXIT.USAGE,
      'portctl: the request must be a JSON object, like \'{"cmd":"ping"}\'',
    );
  }
  if (!("id" in msg)) msg = { id: 1, ...msg };
  if (o.caps !== undefined && msg.caps === undefined) msg.caps = o.caps;
  const handles: FdHandle[] = [];
  for (const f of o.fd) {
    if (/^[A-Za-z_][\w.]*=/.test(f) && !pathExists(f)) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: --fd FIELD=PATH is for the typed form; in raw JSON write {"fd_index": i} and pass --fd PATH`,
      );
    }
    handles.push(await openFd(f));
  }
  if (handles.length > 0 && msg.fds === undefined) msg.fds = handles.length;
  const fdPassing = handles.length > 0;
  let connection;
  try {
    const platform = await platformFor(fdPassing, address);
    connection = await platform.connect(address, { fdPassing });
  } catch (error) {
    throw connectFail(address, error);
  }
  const streaming = o.stream || o.count !== undefined;
  let events = 0;
  let answered = false;
  return await new Promise<number>((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (code: number) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve(code);
    };
    const channel = new Channel(connection, {
      message: (m, fds) => {
        if (fds) { for (const fd of fds) fd.close(); }
        if (typeof m.event === "string") {
          if (!answered || !streaming) return;
          out(m, o.pretty);
          if (o.count !== undefined && ++events >= o.count) finish(EXIT.OK);
          return;
        }
        if (answered) return;
        answered = true;
        if (timer !== undefined) clearTimeout(timer);
        out(m, o.pretty);
        if (m.ok === false) {
          const e: Json = m.error ?? {};
          err(typeof e === "string" ? e : `${e.code ?? "ERROR"}: ${e.message ?? "no message"}`);
          finish(EXIT.ERROR);
        } else if (m.ok !== true) {
          err('portctl: the answer has no "ok" boolean');
          finish(EXIT.ERROR);
        } else if (!streaming || o.count === 0) finish(EXIT.OK);
        else stopOnSignals();
      },
      bad: (code, message) =>
        err(`portctl: ignored a bad line from the server (${code}): ${message}`),
      closed: (error) => {
        if (answered) finish(EXIT.OK);
        else {
          err(
            `portctl: the connection closed before the response${
              error ? `: ${errorMessage(error)}` : ""
            }`,
          );
          finish(EXIT.CONNECT);
        }
      },
    });
    try {
      channel.send(msg, handles.map((h) => h.fd));
    } catch (error) {
      err(`portctl: cannot send the request: ${errorMessage(error)}`);
      finish(EXIT.USAGE);
      return;
    }
    if (o.timeout > 0) {
      timer = setTimeout(() => {
        if (!answered) {
          err(`TIMEOUT: no response within ${o.timeout} ms`);
          finish(EXIT.TIMEOUT);
        }
      }, o.timeout);
    }
  });
}

/** The typed form: `<command> key=value ...`, `describe`, `subscribe`. */
async function typedForm(
  address: string,
  cmd: string,
  words: string[],
  o: Options,
): Promise<number> {
  if (!/^[a-z][a-z0-9_]*$/.test(cmd)) {
    throw new Fail(
      EXIT.USAGE,
      `portctl: bad command name "${cmd}" (for raw JSON, the request must start with "{")`,
    );
  }
  const { args, raw } = parseKeyValues(words);
  const fdArgs = o.fd.map((f) => {
    const m = /^([A-Za-z_][\w-]*(?:\.[\w-]+)*)=(.+)$/.exec(f);
    return m && !pathExists(f) ? { field: m[1], path: m[2] } : { field: undefined, path: f };
  });
  let client;
  try {
    client = await connect(address, {
      fdPassing: fdArgs.length > 0,
      timeout: o.timeout,
      caps: o.caps,
      onWarning: (m) => err(`portctl: ${m}`),
    });
  } catch (error) {
    throw connectFail(address, error);
  }
  if (cmd === "ping" || cmd === "cancel" || cmd === "unsubscribe") {
    out(await client.request(cmd, Object.keys(args).length ? args : undefined), o.pretty);
    return EXIT.OK;
  }
  const schema: Json = await client.describe();
  const service = schema.service ?? address;
  const defs = schema.definitions ?? {};
  if (cmd === "describe") {
    if (Object.keys(args).length > 0) {
      throw new Fail(EXIT.USAGE, "portctl: describe takes no arguments");
    }
    if (o.json) out(schema, o.pretty);
    else outText(describeTables(schema));
    return EXIT.OK;
  }
  if (cmd === "subscribe") return await subscribe(client, schema, args, raw, o);
  const c = schema.commands?.[cmd];
  if (!c) {
    const valid = [...Object.keys(schema.commands ?? {}), "ping", "describe", "subscribe"];
    throw new Fail(
      EXIT.USAGE,
      `portctl: unknown command "${cmd}" for ${service}${didYouMean(cmd, valid)}`,
    );
  }
  const fdFields = fdFieldsOf(c.args, defs);
  const handles: FdHandle[] = [];
  for (const f of fdArgs) {
    let field = f.field;
    if (field === undefined) {
      if (fdFields.length !== 1) {
        throw new Fail(
          EXIT.USAGE,
          fdFields.length === 0
            ? `portctl: ${service} ${cmd} takes no file descriptors`
            : `portctl: ${service} ${cmd} takes several descriptors (${
              fdFields.join(", ")
            }): use --fd FIELD=PATH`,
        );
      }
      field = fdFields[0];
    } else if (!fdFields.includes(field)) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: "${field}" is not a descriptor argument of ${service} ${cmd}${
          didYouMean(field, fdFields)
        }`,
      );
    }
    if (getPath(args, field.split(".")) !== undefined) {
      throw new Fail(EXIT.USAGE, `portctl: argument "${field}" is given twice`);
    }
    const h = await openFd(f.path);
    handles.push(h);
    setPath(args, field.split("."), h);
  }
  checkArgs(service, cmd, c.args, defs, args, raw, fdFields);
  try {
    const result = await client.request(cmd, c.args || Object.keys(args).length ? args : undefined);
    out(stripFds(result), o.pretty);
  } finally {
    for (const h of handles) h.close();
  }
  return EXIT.OK;
}

/** Replaces FD handles in a result by `{"fd": n}` descriptions (and closes them). */
function stripFds(v: Json): Json {
  if (v === null || typeof v !== "object") return v;
  if (typeof v.take === "function" && typeof v.keep === "function") {
    const n = v.closed ? -1 : v.fd;
    v.close();
    return { fd: n };
  }
  if (Array.isArray(v)) return v.map(stripFds);
  const o: Json = {};
  for (const k of Object.keys(v)) o[k] = stripFds(v[k]);
  return o;
}

async function subscribe(
  client: Awaited<ReturnType<typeof connect>>,
  schema: Json,
  args: Record<string, Json>,
  raw: Map<string, string>,
  o: Options,
): Promise<number> {
  const service = schema.service;
  const declared = Object.keys(schema.events ?? {});
  let events = args.events;
  delete args.events;
  if (events === undefined) {
    throw new Fail(
      EXIT.USAGE,
      `portctl: subscribe needs events=NAME[,NAME...] (${service} events: ${
        declared.join(", ") || "none"
      })`,
    );
  }
  if (typeof events === "string") {
    events = events.split(",").map((s: string) => s.trim()).filter(Boolean);
  }
  if (
    !Array.isArray(events) || events.length === 0 ||
    !events.every((e: unknown) => typeof e === "string")
  ) {
    throw new Fail(
      EXIT.USAGE,
      "portctl: events must be a comma-separated list or a JSON array of names",
    );
  }
  for (const e of events) {
    if (!declared.includes(e)) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: unknown event "${e}" for ${service}${didYouMean(e, declared)}`,
      );
    }
  }
  const filters = new Set<string>(schema.events[events[0]].filters ?? []);
  for (const e of events.slice(1)) {
    for (const f of [...filters]) {
      if (!(schema.events[e].filters ?? []).includes(f)) filters.delete(f);
    }
  }
  for (const k of Object.keys(args)) {
    if (!filters.has(k)) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: "${k}" is not a filter of ${events.join(", ")}${didYouMean(k, [...filters])}`,
      );
    }
    const prop = deref(schema.events[events[0]].payload?.properties?.[k], schema.definitions ?? {});
    if (raw.has(k) && isStringSchema(prop)) args[k] = raw.get(k);
  }
  const sub = client.subscribe(events, args);
  await sub.ready;
  stopOnSignals();
  if (o.count === 0) return EXIT.OK;
  let n = 0;
  for await (const ev of sub) {
    out(ev, o.pretty);
    if (o.count !== undefined && ++n >= o.count) break;
  }
  return EXIT.OK;
}

/**
 * Runs portctl; returns the exit status. Never throws.
 *
 * @param argv Command-line arguments.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: {
          stream: { type: "boolean", default: false },
          count: { type: "string" },
          pretty: { type: "boolean", default: false },
          json: { type: "boolean", default: false },
          caps: { type: "string", multiple: true },
          fd: { type: "string", multiple: true },
          timeout: { type: "string" },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (error) {
      throw new Fail(
        EXIT.USAGE,
        `portctl: ${
          errorMessage(error).split("\n")[0].replace(/\. To specify a positional.*$/, "")
        } (see portctl --help)`,
      );
    }
    const { values, positionals } = parsed;
    if (values.help) {
      outText(USAGE);
      return EXIT.OK;
    }
    if (positionals.length < 2) {
      throw new Fail(
        EXIT.USAGE,
        positionals.length === 0
          ? "portctl: missing service or socket (see portctl --help)"
          : `portctl: missing command or JSON request after "${positionals[0]}" (try: portctl ${
            positionals[0]
          } describe)`,
      );
    }
    let count: number | undefined;
    if (values.count !== undefined) {
      if (!/^\d+$/.test(values.count)) {
        throw new Fail(
          EXIT.USAGE,
          `portctl: bad --count "${values.count}": expected a whole number`,
        );
      }
      count = Number(values.count);
    }
    const caps = values.caps === undefined
      ? undefined
      : values.caps.length === 1
      ? values.caps[0]
      : values.caps;
    const o: Options = {
      stream: values.stream!,
      count,
      pretty: values.pretty!,
      json: values.json!,
      caps,
      fd: values.fd ?? [],
      timeout: parseTimeout(values.timeout),
    };
    const [target, second, ...rest] = positionals;
    const raw = second.trimStart();
    const isRaw = raw.startsWith("{") || raw.startsWith("[") || raw.startsWith('"');
    if (isRaw && rest.length > 0) {
      throw new Fail(EXIT.USAGE, "portctl: the raw form takes one JSON argument (quote it)");
    }
    if (isRaw) {
      // Check the JSON before resolving the target, so bad input is reported as usage.
      try {
        JSON.parse(second);
      } catch (error) {
        throw new Fail(EXIT.USAGE, `portctl: invalid JSON request: ${cleanJsonError(error)}`);
      }
    }
    const { address } = resolveTarget(target);
    if (isRaw) return await rawForm(address, second, o);
    return await typedForm(address, second, rest, o);
  } catch (error) {
    if (error instanceof Fail) {
      err(error.message);
      return error.exit;
    }
    if (error instanceof RemoteError) {
      err(`${error.code}: ${error.message}`);
      return EXIT.ERROR;
    }
    if (error instanceof TimeoutError) {
      err(`TIMEOUT: ${error.message}`);
      return EXIT.TIMEOUT;
    }
    if (error instanceof ClosedError) {
      err(`portctl: ${error.message}`);
      return EXIT.CONNECT;
    }
    err(`portctl: ${errorMessage(error)}`);
    return EXIT.ERROR;
  }
}

/** Whether this module is the program (Deno: `import.meta.main`; Node: the script in argv). */
function isMain(): boolean {
  // deno-lint-ignore no-explicit-any
  const meta = import.meta as any;
  if (typeof meta.main === "boolean") return meta.main;
  try {
    return process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
  } catch {
    return false;
  }
}

if (isMain()) process.exit(await main(process.argv.slice(2)));
