/**
 * Parse → validate → model. Turns a service schema (JSON text) into the model the emitters walk.
 * Every problem is reported as `file#/json/pointer: message` (or `file:line:col: message` for JSON
 * that does not parse), never as a stack trace.
 *
 * @module
 */

import { Ajv } from "./_ajv.ts";
import { camel, cName, pascal, upperSnake } from "./names.ts";
import metaSchema from "../schemas/meta/service.schema.json" with { type: "json" };

/** One problem in a schema file. */
export interface SchemaIssue {
  file: string;
  /** JSON pointer ("" for the root), or undefined when only line/column is known. */
  pointer?: string;
  line?: number;
  column?: number;
  message: string;
}

/** Formats an issue as `file#/pointer: message`. */
export function formatIssue(i: SchemaIssue): string {
  if (i.pointer === undefined) return `${i.file}:${i.line ?? 1}:${i.column ?? 1}: ${i.message}`;
  return `${i.file}#${i.pointer}: ${i.message}`;
}

/** Thrown when schemas are invalid; `issues` lists every problem found. */
export class SchemaError extends Error {
  readonly issues: SchemaIssue[];
  /** @param issues The problems. */
  constructor(issues: SchemaIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "SchemaError";
    this.issues = issues;
  }
}

// deno-lint-ignore no-explicit-any
export type Json = any;

/** A command, ready for emitters. */
export interface CommandModel {
  name: string;
  /** PascalCase base for type names: `Load`. */
  pascal: string;
  /** Method name on the generated client (camelCase, escaped). */
  method: string;
  /** C identifier part: `load`. */
  c: string;
  description: string;
  args?: Json;
  result?: Json;
  argsType: string;
  resultType: string;
  /** Whether `args` has required fields (else the argument is optional). */
  argsRequired: boolean;
  caps: string[];
  errors: string[];
  since?: string;
  deprecated?: string | boolean;
  examples: { title?: string; args?: Json; result?: Json }[];
  /** Whether args or result contain `x-fd` values. */
  fds: boolean;
  argsFds: boolean;
  resultFds: boolean;
}

/** An event, ready for emitters. */
export interface EventModel {
  name: string;
  pascal: string;
  c: string;
  description: string;
  payload?: Json;
  payloadType: string;
  filters: string[];
  /** Capabilities a subscriber must hold. */
  caps: string[];
  since?: string;
  deprecated?: string | boolean;
  example?: Json;
  fds: boolean;
}

/** A service, ready for emitters. */
export interface ServiceModel {
  /** Path of the schema file as given (used in stamps and messages). */
  file: string;
  /** The schema as parsed (served by `describe`). */
  schema: Json;
  name: string;
  /** `Copperd`, `CompatUae`. */
  pascal: string;
  /** `copperd`, `compatUae`. */
  camel: string;
  /** `copperd`, `compat_uae`. */
  c: string;
  /** `COPPERD`, `COMPAT_UAE`. */
  upper: string;
  title: string;
  description: string;
  version: string;
  protocol: number;
  socket: { path: string; env: string; abstract: string };
  caps: Record<string, string>;
  errors: Record<string, string>;
  definitions: Record<string, Json>;
  commands: CommandModel[];
  events: EventModel[];
  fdPassing: boolean;
}

/** Protocol error codes a command may list without declaring them. */
export const PROTOCOL_ERRORS = [
  "BAD_CMD",
  "BAD_ARG",
  "NOT_FOUND",
  "DENIED",
  "BUSY",
  "TIMEOUT",
  "INTERNAL",
  "BAD_FRAME",
  "TOO_LARGE",
  "BAD_FD",
  "CANCELLED",
];

const RESERVED_COMMANDS = ["ping", "describe", "subscribe", "unsubscribe", "cancel"];
const RESERVED_EVENTS = ["dropped"];
const RESERVED_PAYLOAD = ["event", "sub", "fds"];
/** Members of the generated client base class: commands with these names get a `Command` suffix. */
const CLIENT_MEMBERS = ["call", "port", "close", "constructor"];

function escapePointer(s: string): string {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Line and column of a character offset. */
function lineCol(text: string, offset: number): { line: number; column: number } {
  let line = 1, col = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === "\n") {
      line++;
      col = 1;
    } else col++;
  }
  return { line, column: col };
}

/**
 * Parses JSON, reporting a syntax error with line and column.
 *
 * @param file The file name for messages.
 * @param text The JSON text.
 */
export function parseJson(file: string, text: string): Json {
  try {
    return JSON.parse(text);
  } catch (error) {
    const msg = (error as Error).message;
    const m = /position (\d+)/.exec(msg);
    const lc = m ? lineCol(text, Number(m[1])) : { line: 1, column: 1 };
    const clean = msg.replace(/^JSON\.parse: /, "").replace(/ in JSON at position \d+.*$/, "").replace(/\s*\(line \d+ column \d+\)$/, "");
    throw new SchemaError([{ file, line: lc.line, column: lc.column, message: `Invalid JSON: ${clean}` }]);
  }
}

let metaValidate: ReturnType<Ajv["compile"]> | undefined;
let schemaChecker: Ajv | undefined;

function ajvErrorsToIssues(file: string, base: string, errors: Json[]): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let pointer = base + e.instancePath;
    let message: string = e.message ?? "is invalid";
    if (e.keyword === "additionalProperties") {
      pointer += "/" + escapePointer(e.params.additionalProperty);
      message = "is not allowed here";
    } else if (e.keyword === "required") {
      message = `must have "${e.params.missingProperty}"`;
    } else if (e.keyword === "propertyNames") {
      pointer += "/" + escapePointer(e.params.propertyName);
      message = `is not a valid name`;
    } else if (e.keyword === "const") {
      message = `must be ${JSON.stringify(e.params.allowedValue)}`;
    } else if (e.keyword === "enum" && Array.isArray(e.params.allowedValues)) {
      message = `must be one of ${e.params.allowedValues.map((v: unknown) => JSON.stringify(v)).join(", ")}`;
    } else if (e.keyword === "if" || e.keyword === "oneOf" || e.keyword === "anyOf") {
      continue;
    }
    // One issue per place: the first is the most useful (draft-07 "type" is an anyOf, for one).
    if (seen.has(pointer)) continue;
    seen.add(pointer);
    out.push({ file, pointer, message });
  }
  return out;
}

/** Walks every JSON Schema node below `node`, calling `visit(node, pointer)`. */
function walkSchema(node: Json, pointer: string, visit: (n: Json, p: string) => void): void {
  if (node === null || typeof node !== "object") return;
  if (Array.isArray(node)) {
    node.forEach((n, i) => walkSchema(n, `${pointer}/${i}`, visit));
    return;
  }
  visit(node, pointer);
  for (const k of ["properties", "patternProperties", "definitions", "$defs"]) {
    if (node[k] && typeof node[k] === "object") {
      for (const [name, sub] of Object.entries(node[k])) walkSchema(sub, `${pointer}/${k}/${escapePointer(name)}`, visit);
    }
  }
  for (const k of ["items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames", "additionalItems"]) {
    if (node[k] && typeof node[k] === "object") walkSchema(node[k], `${pointer}/${k}`, visit);
  }
  for (const k of ["oneOf", "anyOf", "allOf"]) {
    if (Array.isArray(node[k])) node[k].forEach((n: Json, i: number) => walkSchema(n, `${pointer}/${k}/${i}`, visit));
  }
}

/** Whether a schema (following local refs) contains an `x-fd` value. */
export function containsFd(node: Json, definitions: Record<string, Json>, seen = new Set<string>()): boolean {
  let found = false;
  walkSchema(node, "", (n) => {
    if (found) return;
    if (n["x-fd"] === true) found = true;
    else if (typeof n.$ref === "string") {
      const name = n.$ref.replace("#/definitions/", "");
      if (!seen.has(name) && definitions[name]) {
        seen.add(name);
        if (containsFd(definitions[name], definitions, seen)) found = true;
      }
    }
  });
  return found;
}

/**
 * Validates one parsed service schema and builds its model.
 *
 * @param file File name for messages.
 * @param schema The parsed JSON.
 * @returns The model; throws {@linkcode SchemaError} listing every problem.
 */
export function buildModel(file: string, schema: Json): ServiceModel {
  metaValidate ??= new Ajv({ allErrors: true, strict: false }).compile(metaSchema);
  if (!metaValidate(schema)) {
    throw new SchemaError(ajvErrorsToIssues(file, "", metaValidate.errors ?? []));
  }
  const issues: SchemaIssue[] = [];
  const issue = (pointer: string, message: string) => issues.push({ file, pointer, message });
  const caps: Record<string, string> = schema.caps ?? {};
  const errors: Record<string, string> = schema.errors ?? {};
  const definitions: Record<string, Json> = schema.definitions ?? {};

  for (const code of Object.keys(errors)) {
    if (PROTOCOL_ERRORS.includes(code)) issue(`/errors/${code}`, `"${code}" is a protocol error code; do not redeclare it`);
  }

  // Every JSON Schema node: valid draft-07, refs resolve, x-fd well-formed.
  if (!schemaChecker) {
    schemaChecker = new Ajv({ strict: false });
    schemaChecker.addKeyword("x-fd");
  }
  const checkSchema = (node: Json, pointer: string) => {
    if (!schemaChecker!.validateSchema(node)) {
      issues.push(...ajvErrorsToIssues(file, pointer, schemaChecker!.errors ?? []));
    }
    walkSchema(node, pointer, (n, p) => {
      if (typeof n.$ref === "string") {
        const m = /^#\/definitions\/([A-Za-z0-9]+)$/.exec(n.$ref);
        if (!m) issue(`${p}/$ref`, `must be "#/definitions/<Name>" (got "${n.$ref}")`);
        else if (!definitions[m[1]]) issue(`${p}/$ref`, `refers to an undefined definition "${m[1]}"`);
      }
      if ("x-fd" in n) {
        if (n["x-fd"] !== true) issue(`${p}/x-fd`, "must be true");
        else if (n.type !== undefined) issue(`${p}/type`, "an x-fd value has no type (it is {\"fd_index\": i} on the wire)");
      }
    });
  };
  for (const [name, def] of Object.entries(definitions)) checkSchema(def, `/definitions/${name}`);

  const used = new Set<string>();
  const claim = (typeName: string, pointer: string) => {
    if (definitions[typeName]) issue(pointer, `generated type name "${typeName}" collides with definition "${typeName}"`);
    if (used.has(typeName)) issue(pointer, `generated type name "${typeName}" is used twice`);
    used.add(typeName);
  };

  const commands: CommandModel[] = [];
  for (const [name, c] of Object.entries<Json>(schema.commands)) {
    const p = `/commands/${name}`;
    if (RESERVED_COMMANDS.includes(name)) {
      issue(p, `"${name}" is reserved by the protocol; the runtime implements it`);
      continue;
    }
    if (c.args) checkSchema(c.args, `${p}/args`);
    if (c.result) checkSchema(c.result, `${p}/result`);
    (c.caps ?? []).forEach((cap: string, i: number) => {
      if (!(cap in caps)) issue(`${p}/caps/${i}`, `unknown capability "${cap}" (declare it in #/caps)`);
    });
    (c.errors ?? []).forEach((code: string, i: number) => {
      if (!PROTOCOL_ERRORS.includes(code) && !(code in errors)) {
        issue(`${p}/errors/${i}`, `unknown error code "${code}" (declare it in #/errors)`);
      }
    });
    if (c.since && compareSemver(c.since, schema.version) > 0) {
      issue(`${p}/since`, `is newer than the service version ${schema.version}`);
    }
    const base = pascal(name);
    claim(`${base}Args`, p);
    claim(`${base}Result`, p);
    const argsFds = c.args ? containsFd(c.args, definitions) : false;
    const resultFds = c.result ? containsFd(c.result, definitions) : false;
    let method = camel(name);
    if (CLIENT_MEMBERS.includes(method)) method += "Command";
    commands.push({
      name,
      pascal: base,
      method,
      c: cName(name),
      description: c.description,
      args: c.args,
      result: c.result,
      argsType: `${base}Args`,
      resultType: `${base}Result`,
      argsRequired: Array.isArray(c.args?.required) && c.args.required.length > 0 ||
        Array.isArray(c.args?.oneOf) || Array.isArray(c.args?.anyOf),
      caps: c.caps ?? [],
      errors: c.errors ?? [],
      since: c.since,
      deprecated: c.deprecated,
      examples: c.examples ?? [],
      fds: argsFds || resultFds,
      argsFds,
      resultFds,
    });
  }

  const events: EventModel[] = [];
  for (const [name, e] of Object.entries<Json>(schema.events ?? {})) {
    const p = `/events/${name}`;
    if (RESERVED_EVENTS.includes(name)) {
      issue(p, `"${name}" is reserved by the protocol`);
      continue;
    }
    if (e.payload) checkSchema(e.payload, `${p}/payload`);
    const props = e.payload?.properties ?? {};
    for (const r of RESERVED_PAYLOAD) {
      if (r in props) issue(`${p}/payload/properties/${r}`, `"${r}" is an envelope field and cannot be a payload field`);
    }
    (e.filters ?? []).forEach((f: string, i: number) => {
      if (!(f in props)) issue(`${p}/filters/${i}`, `filter "${f}" is not a payload property`);
    });
    (e.caps ?? []).forEach((cap: string, i: number) => {
      if (!(cap in caps)) issue(`${p}/caps/${i}`, `unknown capability "${cap}" (declare it in #/caps)`);
    });
    const base = pascal(name);
    claim(`${base}Event`, p);
    events.push({
      name,
      pascal: base,
      c: cName(name),
      description: e.description,
      payload: e.payload,
      payloadType: `${base}Event`,
      filters: e.filters ?? [],
      caps: e.caps ?? [],
      since: e.since,
      deprecated: e.deprecated,
      example: e.example,
      fds: e.payload ? containsFd(e.payload, definitions) : false,
    });
  }

  if (issues.length > 0) throw new SchemaError(issues);

  // Examples must validate (needs a compiled validator; done after structural checks pass).
  const exampleIssues = checkExamples(file, schema, commands, events);
  if (exampleIssues.length > 0) throw new SchemaError(exampleIssues);

  const name: string = schema.service;
  return {
    file,
    schema,
    name,
    pascal: pascal(name),
    camel: camel(name),
    c: cName(name),
    upper: upperSnake(name),
    title: schema.title ?? name,
    description: schema.description ?? "",
    version: schema.version,
    protocol: schema.protocol,
    socket: {
      path: schema.socket?.path ?? `/run/copperline/${name}.sock`,
      env: schema.socket?.env ?? `${upperSnake(name)}_SOCKET`,
      abstract: schema.socket?.abstract ?? `@copperline/${name}`,
    },
    caps,
    errors,
    definitions,
    commands,
    events,
    fdPassing: commands.some((c) => c.fds) || events.some((e) => e.fds),
  };
}

/** The JSON Schema an `x-fd` value has on the wire. */
export const FD_REF_SCHEMA = {
  type: "object",
  properties: { fd_index: { type: "integer", minimum: 0 } },
  required: ["fd_index"],
  additionalProperties: false,
};

/** Deep-copies a schema replacing `x-fd` nodes (for validation of the wire form). */
export function wireSchema(node: Json): Json {
  if (node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map(wireSchema);
  if (node["x-fd"] === true) return { ...FD_REF_SCHEMA, description: node.description };
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) out[k] = wireSchema(v);
  return out;
}

/** Replaces FD handles in an example by `{fd_index}` so it validates against the wire schema. */
function checkExamples(file: string, schema: Json, commands: CommandModel[], events: EventModel[]): SchemaIssue[] {
  const ajv = new Ajv({ strict: false, allErrors: false });
  ajv.addKeyword("x-fd");
  const root = wireSchema({ definitions: schema.definitions ?? {} });
  root.$id = "svc";
  const issues: SchemaIssue[] = [];
  const check = (sub: Json, value: Json, pointer: string) => {
    const v = ajv.compile({ ...wireSchema(sub), definitions: root.definitions });
    if (!v(value)) issues.push(...ajvErrorsToIssues(file, pointer, v.errors ?? []));
  };
  for (const c of commands) {
    c.examples.forEach((ex, i) => {
      const p = `/commands/${c.name}/examples/${i}`;
      if (ex.args !== undefined) {
        if (c.args) check(c.args, ex.args, `${p}/args`);
        else if (Object.keys(ex.args).length > 0) issues.push({ file, pointer: `${p}/args`, message: "command takes no args" });
      }
      if (ex.result !== undefined && c.result) check(c.result, ex.result, `${p}/result`);
    });
  }
  for (const e of events) {
    if (e.example !== undefined && e.payload) check(e.payload, e.example, `/events/${e.name}/example`);
  }
  return issues;
}

/** Compares two semver strings (pre-release ignored for ordering beyond equality of cores). */
export function compareSemver(a: string, b: string): number {
  const pa = a.split(/[.-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

/**
 * Parses and models a schema file's text.
 *
 * @param file The file name for messages.
 * @param text The JSON text.
 */
export function loadService(file: string, text: string): ServiceModel {
  return buildModel(file, parseJson(file, text));
}
