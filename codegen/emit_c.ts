/**
 * C target: one `<c_name>.h` and `<c_name>.c` per service, typed wrappers over libcopperline-ports
 * (`cl_ports.h`) with jansson doing the JSON work inside the `.c`. The `.c` holds only the typed
 * part (per-type encoders/decoders, one thin function per command and event); what every service
 * shares (FD numbering, string copies, the call, the event envelope and `dropped`) is the
 * library's support API `cl_ports_gen.h`, whose version (GEN_API_VERSION) the `.c` checks.
 *
 * Names are mechanical (wayland-scanner style), with `svc` the service's C name (`compat_uae`):
 *
 * | schema element | C |
 * |---|---|
 * | definition `BlendMode` (object / string enum) | `svc_blend_mode_t` |
 * | command `load` | `svc_load_args_t`, `svc_load_result_t`, `int svc_load(client, args, ret_result)` |
 * | event `irq` | `svc_irq_event_t`, kind `SVC_EVENT_IRQ`, mask `SVC_EVENT_MASK_IRQ` |
 * | inline object / enum at field `f` of type `P_t` | `P_f_t` (array items: `P_f_item_t`) |
 * | enum value `add` of `svc_blend_mode_t` | `SVC_BLEND_MODE_ADD` |
 * | `since` of a command / an event | `SVC_LOAD_SINCE_VERSION` / `SVC_IRQ_EVENT_SINCE_VERSION` |
 *
 * Types: integer → `int64_t`, number → `double`, boolean → `bool`, string → `char *` (owned, in
 * result/event types) or `const char *` (borrowed, in argument types), string enum → a C enum,
 * object with properties → struct (optional fields get `bool has_<field>`), array → pointer plus
 * `size_t <field>_len`, `x-fd` → `int`, `const` → no field (sent / checked by the code). Anything
 * else (oneOf / anyOf / allOf, patternProperties maps, free-form objects, arrays of arrays,
 * mixed-type values) becomes `struct json_t *` (jansson), borrowed in arguments and an owned
 * reference in results.
 *
 * @module
 */

import type { CommandModel, EventModel, Json, ServiceModel } from "./model.ts";
import { containsFd } from "./model.ts";
import type { EmitContext, Emitter, GeneratedFile } from "./mod.ts";
import { cName, upperSnake } from "./names.ts";
import { Printer } from "./printer.ts";
import { fill } from "../templates/mod.ts";

/**
 * The version of the support API (`sdk/c/include/cl_ports_gen.h`, `CLP_GEN_API_VERSION`) the
 * generated sources call; they refuse to compile against another. Bump both together when the
 * generated code needs an incompatible change of that API.
 */
export const GEN_API_VERSION = 2;

// ---------------------------------------------------------------------------------------------
// The C type model
// ---------------------------------------------------------------------------------------------

/** A C-side type for one JSON Schema node. */
export type CType =
  | { k: "int"; values?: number[] }
  | { k: "num" }
  | { k: "bool" }
  | { k: "str" }
  | { k: "fd" }
  | { k: "enum"; e: EnumDef }
  | { k: "struct"; s: StructDef }
  | { k: "array"; item: CType }
  | { k: "json"; why: string; fds: boolean }
  | { k: "const"; value: string | number | boolean };

/** A generated C enum. */
export interface EnumDef {
  /** C type name without `_t`: `copperd_blend_mode`. */
  name: string;
  /** Constant prefix: `COPPERD_BLEND_MODE`. */
  upper: string;
  values: { json: string; c: string }[];
  description: string;
  from: string;
  since?: string;
  deprecated?: string | boolean;
}

/** A generated C struct. */
export interface StructDef {
  /** C type name without `_t`. */
  name: string;
  fields: FieldDef[];
  description: string;
  from: string;
  notes: string[];
  since?: string;
  deprecated?: string | boolean;
  /** A top-level value that is not an object with properties: one member, `value`. */
  wrapper?: boolean;
  /** Its schema's oneOf/anyOf alternatives hold FDs that no typed member carries. */
  rawFds?: boolean;
}

/** One member of a struct (a JSON property). */
export interface FieldDef {
  /** The JSON key. */
  key: string;
  /** The C member name. */
  c: string;
  t: CType;
  required: boolean;
  description: string;
  from: string;
  /** Extra doc lines (definition name, default, allowed values). */
  notes: string[];
}

type Named = { kind: "enum"; e: EnumDef } | { kind: "struct"; s: StructDef };

/** Lower snake case of a schema name, splitting camel humps: `DmabufSurface` → `dmabuf_surface`. */
export function snake(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1_$2")
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .join("_")
    .toLowerCase();
}

function enumConst(value: string): string {
  const u = upperSnake(value);
  return u === "" ? "EMPTY" : u;
}

function esc(s: string): string {
  return JSON.stringify(s);
}

function escapePointer(s: string): string {
  return s.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Builds the C types of one service (definitions first, dependencies before their users). */
export class CTypes {
  /** Every named type, in declaration order. */
  readonly named: Named[] = [];
  readonly #defs = new Map<string, CType>();
  readonly #building = new Set<string>();
  readonly #m: ServiceModel;
  readonly #src: string;
  /** Definition name → its struct, for definitions that are structs. */
  readonly defStructs = new Map<string, StructDef>();

  constructor(m: ServiceModel) {
    this.#m = m;
    this.#src = `${m.file}#`;
    for (const name of Object.keys(m.definitions)) this.definition(name);
  }

  /** `file#`, the prefix of every `from` pointer. */
  get src(): string {
    return this.#src;
  }

  /** The type of definition `name`. */
  definition(name: string): CType {
    const have = this.#defs.get(name);
    if (have) return have;
    const def = this.#m.definitions[name];
    if (this.#building.has(name)) {
      return { k: "json", why: `recursive reference to definition ${name}`, fds: containsFd(def, this.#m.definitions) };
    }
    this.#building.add(name);
    const t = this.type(def, `${this.#m.c}_${snake(name)}`, `/definitions/${escapePointer(name)}`, true);
    this.#building.delete(name);
    this.#defs.set(name, t);
    if (t.k === "struct") this.defStructs.set(name, t.s);
    return t;
  }

  /**
   * The C type of a schema node.
   *
   * @param node The schema.
   * @param name The C name a struct or enum made from this node gets (without `_t`).
   * @param pointer JSON pointer of the node in the schema file.
   * @param _named Whether the node is a definition (its type is public under `name`; unused so far).
   */
  type(node: Json, name: string, pointer: string, _named = false): CType {
    if (node === true || node === undefined || node === null || typeof node !== "object") {
      return { k: "json", why: "any JSON value", fds: false };
    }
    if (node["x-fd"] === true) return { k: "fd" };
    if (typeof node.$ref === "string") {
      return this.definition(node.$ref.replace("#/definitions/", ""));
    }
    const fds = containsFd(node, this.#m.definitions);
    if (Array.isArray(node.oneOf) || Array.isArray(node.anyOf) || Array.isArray(node.allOf)) {
      if (node.type === "object" && node.properties && !node.patternProperties) {
        // Properties plus a oneOf of shapes: the struct carries the properties; the server checks
        // the rest.
      } else {
        const kw = Array.isArray(node.oneOf) ? "oneOf" : Array.isArray(node.anyOf) ? "anyOf" : "allOf";
        return { k: "json", why: `a ${kw} union has no single C shape`, fds };
      }
    }
    if ("const" in node) {
      const v = node.const;
      if (typeof v === "string" || typeof v === "boolean" || typeof v === "number") return { k: "const", value: v };
      return { k: "json", why: "a non-scalar const", fds };
    }
    if (Array.isArray(node.type)) return { k: "json", why: `a value of several types (${node.type.join(", ")})`, fds };
    switch (node.type) {
      case "integer":
        return Array.isArray(node.enum) ? { k: "int", values: node.enum } : { k: "int" };
      case "number":
        return { k: "num" };
      case "boolean":
        return { k: "bool" };
      case "string": {
        if (!Array.isArray(node.enum)) return { k: "str" };
        const seen = new Set<string>();
        const values = node.enum.map((v: string) => {
          let c = enumConst(String(v));
          while (seen.has(c)) c += "_";
          seen.add(c);
          return { json: String(v), c };
        });
        const e: EnumDef = {
          name,
          upper: name.toUpperCase(),
          values,
          description: node.description ?? "",
          from: this.#src + pointer,
          since: node.since,
          deprecated: node.deprecated,
        };
        this.named.push({ kind: "enum", e });
        return { k: "enum", e };
      }
      case "array": {
        if (!node.items || Array.isArray(node.items)) return { k: "json", why: "a tuple or untyped array", fds };
        const item = this.type(node.items, `${name}_item`, `${pointer}/items`);
        if (item.k === "array") return { k: "json", why: "an array of arrays", fds };
        if (item.k === "const") return { k: "json", why: "an array of constants", fds };
        return { k: "array", item };
      }
      case "object": {
        if (node.patternProperties) return { k: "json", why: "a map (patternProperties) has no C struct shape", fds };
        const props: Record<string, Json> = node.properties ?? {};
        if (Object.keys(props).length === 0) return { k: "json", why: "a free-form object", fds };
        const required: string[] = node.required ?? [];
        const s: StructDef = {
          name,
          fields: [],
          description: node.description ?? "",
          from: this.#src + pointer,
          notes: [],
          since: node.since,
          deprecated: node.deprecated,
        };
        if (Array.isArray(node.oneOf) || Array.isArray(node.anyOf)) {
          s.rawFds = containsFd({ oneOf: node.oneOf ?? [], anyOf: node.anyOf ?? [] }, this.#m.definitions);
        }
        if (Array.isArray(node.oneOf)) {
          const alts = node.oneOf.map((a: Json) => typeof a.$ref === "string" ? a.$ref.replace("#/definitions/", "") : "an inline schema");
          s.notes.push(`The schema also requires the value to match exactly one of: ${alts.join(", ")} (checked by the server).`);
        }
        if (node.additionalProperties !== undefined && node.additionalProperties !== false) {
          s.notes.push("Members not listed in the schema are allowed on the wire but not represented here.");
        }
        const members = new Set<string>();
        for (const [key, sub] of Object.entries(props)) {
          const c = cName(key);
          const t = this.type(sub, `${name}_${c.replace(/_$/, "")}`, `${pointer}/properties/${escapePointer(key)}`);
          const notes: string[] = [];
          if (typeof sub?.$ref === "string") notes.push(`Type: definition ${sub.$ref.replace("#/definitions/", "")}.`);
          if (t.k === "int" && t.values) notes.push(`One of: ${t.values.join(", ")}.`);
          if (sub && typeof sub === "object" && "default" in sub) notes.push(`Default: ${JSON.stringify(sub.default)}.`);
          const f: FieldDef = {
            key,
            c,
            t,
            required: required.includes(key),
            description: sub?.description ?? "",
            from: `${this.#src}${pointer}/properties/${escapePointer(key)}`,
            notes,
          };
          for (const member of fieldMembers(f)) {
            if (members.has(member)) throw new Error(`${f.from}: C member "${member}" of ${name}_t is generated twice`);
            members.add(member);
          }
          s.fields.push(f);
        }
        if (s.fields.every((f) => f.t.k === "const")) {
          // Only constants: nothing to hold. Keep it as JSON rather than an empty struct.
          return { k: "json", why: "an object of constants only", fds };
        }
        this.named.push({ kind: "struct", s });
        return { k: "struct", s };
      }
      default:
        return { k: "json", why: node.enum ? "an enum of mixed or untyped values" : "an untyped value", fds };
    }
  }
}

/** C member names a field produces. */
function fieldMembers(f: FieldDef): string[] {
  if (f.t.k === "const") return [];
  const out = [f.c];
  if (f.t.k === "array") out.push(`${f.c}_len`);
  if (!f.required) out.push(`has_${f.c}`);
  return out;
}

/** Whether a struct-shaped top-level schema (args, result, payload) holds nothing. */
function isEmptyObject(node: Json): boolean {
  return node?.type === "object" && Object.keys(node.properties ?? {}).length === 0 && !node.patternProperties &&
    (node.additionalProperties === false || node.additionalProperties === undefined) && !node.oneOf && !node.anyOf && !node.allOf;
}

/** Named types reachable from a type (structs through fields and array items). */
function reach(t: CType, out: Set<StructDef>): void {
  if (t.k === "array") return reach(t.item, out);
  if (t.k !== "struct" || out.has(t.s)) return;
  out.add(t.s);
  for (const f of t.s.fields) reach(f.t, out);
}

function hasFd(t: CType, seen = new Set<StructDef>()): boolean {
  if (t.k === "fd") return true;
  if (t.k === "array") return hasFd(t.item, seen);
  if (t.k !== "struct" || seen.has(t.s)) return false;
  seen.add(t.s);
  return t.s.fields.some((f) => hasFd(f.t, seen));
}

function jsonFds(t: CType, seen = new Set<StructDef>()): boolean {
  if (t.k === "json") return t.fds;
  if (t.k === "array") return jsonFds(t.item, seen);
  if (t.k !== "struct" || seen.has(t.s)) return false;
  seen.add(t.s);
  return t.s.rawFds === true || t.s.fields.some((f) => jsonFds(f.t, seen));
}

// ---------------------------------------------------------------------------------------------
// Per-command / per-event plan
// ---------------------------------------------------------------------------------------------

interface CommandPlan {
  c: CommandModel;
  fn: string;
  args?: CType;
  result?: CType;
  /** Args hold FDs (typed or inside json_t). */
  sendsFds: boolean;
  /** Args have `json_t` fields that may reference FDs: the args struct gets `fds`/`fds_len`. */
  rawArgFds: boolean;
}

interface EventPlan {
  e: EventModel;
  payload?: CType;
  kind: string;
  mask: string;
}

function wrapTop(types: CTypes, node: Json, name: string, pointer: string, description: string): CType | undefined {
  if (!node || isEmptyObject(node)) return undefined;
  const t = types.type(node, name, pointer);
  if (t.k === "struct") {
    if (!t.s.description) t.s.description = description;
    return t;
  }
  // Not struct-shaped: one member holding the value.
  const s: StructDef = {
    name,
    fields: [{ key: "", c: "value", t, required: true, description: "The whole value.", from: `${types.src}${pointer}`, notes: [] }],
    description,
    from: `${types.src}${pointer}`,
    notes: [],
    wrapper: true,
  };
  types.named.push({ kind: "struct", s });
  return { k: "struct", s };
}

// ---------------------------------------------------------------------------------------------
// Printing helpers
// ---------------------------------------------------------------------------------------------

function lifecycle(since?: string, deprecated?: string | boolean): string[] {
  const tags: string[] = [];
  if (since) tags.push(`@since ${since}`);
  if (deprecated) tags.push(deprecated === true ? "@deprecated" : `@deprecated ${deprecated}`);
  return tags;
}

/** The C type of a value (not an array). */
function scalarType(t: CType, owned: boolean): string {
  switch (t.k) {
    case "int":
      return "int64_t";
    case "num":
      return "double";
    case "bool":
      return "bool";
    case "str":
      return owned ? "char *" : "const char *";
    case "fd":
      return "int";
    case "enum":
      return `${t.e.name}_t`;
    case "struct":
      return `${t.s.name}_t`;
    case "json":
      return "struct json_t *";
    default:
      throw new Error(`no C type for ${t.k}`);
  }
}

/** Member declarations for a field. */
function memberDecls(f: FieldDef, owned: boolean): string[] {
  const out: string[] = [];
  if (!f.required) out.push(`bool has_${f.c};`);
  if (f.t.k === "array") {
    const it = scalarType(f.t.item, owned);
    let decl: string;
    if (owned) decl = `${it}${it.endsWith("*") ? "" : " "}*${f.c}`;
    else if (it.endsWith("*")) decl = `${it}const *${f.c}`;
    else decl = `const ${it} *${f.c}`;
    out.push(`${decl};`);
    out.push(`size_t ${f.c}_len;`);
  } else {
    const ty = scalarType(f.t, owned);
    out.push(`${ty}${ty.endsWith("*") ? "" : " "}${f.c};`);
  }
  return out;
}

function ownershipNote(t: CType, owned: boolean): string | undefined {
  const base = t.k === "array" ? t.item : t;
  const arr = t.k === "array";
  switch (base.k) {
    case "str":
      return owned
        ? arr ? "Owned: the array and each string are freed by the type's `_free`." : "Owned (malloc()ed): freed by the type's `_free`."
        : arr ? "Borrowed: the caller keeps the array and its strings." : "Borrowed: NUL-terminated UTF-8, kept by the caller.";
    case "fd":
      return owned
        ? `Owned file descriptor${arr ? "s" : ""}: closed by the type's \`_free\` unless taken (copy it and set the member to -1).`
        : `Borrowed file descriptor${arr ? "s" : ""}: sent by SCM_RIGHTS as {"fd_index": i}; never closed by the library.`;
    case "json":
      return (owned
        ? `Owned jansson reference${arr ? "s" : ""} (released by the type's \`_free\`; json_incref() to keep).`
        : `Borrowed jansson value${arr ? "s" : ""} (the library takes its own reference).`) +
        ` Represented as JSON because ${base.why}.` +
        (base.fds ? (owned ? " FDs inside it are closed on receipt." : ` An FD inside it is written {"fd_index": i}, indexing the \`fds\` member of the arguments.`) : "");
    default:
      return arr ? (owned ? "Owned array: freed by the type's `_free`." : "Borrowed array, kept by the caller.") : undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// The emitter
// ---------------------------------------------------------------------------------------------

/** Emits `<c_name>.h` and `<c_name>.c` for one service. */
export const emitC: Emitter = (m: ServiceModel, ctx: EmitContext): GeneratedFile[] => {
  const g = new CEmitter(m);
  const stamp = ctx.stamp("c");
  const guard = `CLP_SERVICE_${m.upper}_H`;
  const header = stamp + "\n" + fill(ctx.templates.c_header_open, { guard }).trimEnd() + "\n\n" + g.header() + "\n" +
    fill(ctx.templates.c_header_close, { guard }).trimEnd() + "\n";
  const source = stamp + "\n" + g.source();
  return [
    { target: "c", path: `${m.c}.h`, content: header },
    { target: "c", path: `${m.c}.c`, content: source },
  ];
};

class CEmitter {
  readonly m: ServiceModel;
  readonly types: CTypes;
  readonly commands: CommandPlan[] = [];
  readonly events: EventPlan[] = [];
  /** Structs reachable from results and events (own their memory, decoded, freeable). */
  readonly owned = new Set<StructDef>();
  /** Structs reachable from arguments (encoded). */
  readonly encoded = new Set<StructDef>();
  /** Definition structs (without FDs) that get a public `_to_json`. */
  readonly toJson = new Set<StructDef>();
  readonly pfx: string;
  readonly up: string;
  readonly file: string;
  #tmp = 0;

  constructor(m: ServiceModel) {
    this.m = m;
    this.pfx = m.c;
    this.up = m.upper;
    this.file = m.file;
    this.types = new CTypes(m);
    for (const c of m.commands) {
      const p = `/commands/${escapePointer(c.name)}`;
      const args = wrapTop(this.types, c.args, `${m.c}_${c.c.replace(/_$/, "")}_args`, `${p}/args`, `Arguments of \`${c.name}\`.`);
      const result = wrapTop(this.types, c.result, `${m.c}_${c.c.replace(/_$/, "")}_result`, `${p}/result`, `Result of \`${c.name}\`.`);
      const rawArgFds = args ? jsonFds(args) : false;
      const plan: CommandPlan = {
        c,
        fn: `${m.c}_${c.c.replace(/_$/, "")}`,
        args,
        result,
        sendsFds: args ? hasFd(args) || rawArgFds : false,
        rawArgFds,
      };
      if (args && rawArgFds) {
        args.k === "struct" && args.s.fields.push({
          key: "",
          c: "fds",
          t: { k: "array", item: { k: "fd" } },
          required: true,
          description: "FDs referenced as {\"fd_index\": i} from inside the JSON (`struct json_t *`) members; typed FD members are numbered after these.",
          from: `${m.file}#${p}/args`,
          notes: [],
        });
      }
      if (args) reach(args, this.encoded);
      if (result) reach(result, this.owned);
      this.commands.push(plan);
    }
    for (const e of m.events) {
      const p = `/events/${escapePointer(e.name)}`;
      const payload = wrapTop(this.types, e.payload, `${m.c}_${e.c.replace(/_$/, "")}_event`, `${p}/payload`, `Payload of the \`${e.name}\` event.`);
      if (payload) reach(payload, this.owned);
      this.events.push({ e, payload, kind: `${m.upper}_EVENT_${upperSnake(e.name)}`, mask: `${m.upper}_EVENT_MASK_${upperSnake(e.name)}` });
    }
    for (const s of this.types.defStructs.values()) {
      this.toJson.add(s);
      reach({ k: "struct", s }, this.encoded);
    }
    if (this.events.length > 32) throw new Error(`${m.file}#/events: more than 32 events do not fit the subscribe mask`);
    this.#checkNames();
  }

  /** Every public identifier must be unique. */
  #checkNames(): void {
    const seen = new Map<string, string>();
    const add = (id: string, what: string) => {
      const prev = seen.get(id);
      if (prev) throw new Error(`${this.file}: C name ${id} is generated for both ${prev} and ${what}`);
      seen.set(id, what);
    };
    for (const n of this.types.named) {
      if (n.kind === "enum") {
        add(`${n.e.name}_t`, n.e.from);
        add(`${n.e.name}_names`, n.e.from);
        add(`${n.e.name}_to_string`, n.e.from);
        add(`${n.e.name}_from_string`, n.e.from);
        for (const v of n.e.values) add(`${n.e.upper}_${v.c}`, `${n.e.from} value ${v.json}`);
      } else {
        add(`${n.s.name}_t`, n.s.from);
        if (this.owned.has(n.s)) add(`${n.s.name}_free`, n.s.from);
        if (this.toJson.has(n.s)) add(`${n.s.name}_to_json`, n.s.from);
      }
    }
    for (const c of this.commands) {
      add(c.fn, `command ${c.c.name}`);
      add(`${this.up}_${upperSnake(c.c.name)}_SINCE_VERSION`, `command ${c.c.name}`);
    }
    if (this.events.length > 0) {
      for (const x of ["event_t", "event_kind_t", "event_decode", "event_free", "subscribe", "event_kind_name"]) add(`${this.pfx}_${x}`, "event support");
      for (const x of ["UNKNOWN", "DROPPED", "MASK_ALL"]) add(`${this.up}_EVENT_${x}`, "event support");
      for (const e of this.events) {
        add(e.kind, `event ${e.e.name}`);
        add(e.mask, `event ${e.e.name}`);
        add(`${this.up}_${upperSnake(e.e.name)}_EVENT_SINCE_VERSION`, `event ${e.e.name}`);
      }
    }
  }

  from(pointer: string): string {
    return `From ${pointer.replace(/^(.*)#$/, "$1")}.`;
  }

  // -------------------------------------------------------------------------------------------
  // Header
  // -------------------------------------------------------------------------------------------

  header(): string {
    const m = this.m;
    const p = new Printer("    ");
    p.doc([
      `@file ${m.c}.h`,
      `@brief ${m.title}: typed C client for the ${m.name} service (ports v${m.protocol}).`,
      m.description,
      [
        `Generated from ${m.file}. Every function returns 0 or a negative error code (see cl_ports.h):`,
        `CLP_EREMOTE when the service answered an error (clp_last_error() gives its code and message),`,
        `CLP_EARG for invalid arguments (NULL required pointer, enum out of range, invalid UTF-8),`,
        `CLP_EPROTO when the result does not match the schema (a missing or wrong-typed field); on`,
        `failure nothing is left allocated and \`*ret_result\` is zeroed.`,
      ].join("\n"),
      [
        "Ownership: argument structs are the caller's and are only read (`const char *`, borrowed",
        "FDs and json_t values). Result and event structs own what they point to (`char *`, arrays,",
        "json_t references, received FDs) and are released with their `_free` function, which also",
        "zeroes them (FD members become -1).",
      ].join("\n"),
      [
        "Building: the bindings of the services bundled in sdk/c/services are part of",
        `libcopperline-ports (\`#include <copperline/${m.c}.h>\`, \`pkg-config --cflags --libs copperline-ports\`);`,
        "a binding generated for another schema is compiled into the program (it calls cl_ports_gen.h) and",
        "links jansson: `pkg-config --cflags --libs copperline-ports jansson`. Code that touches",
        "`struct json_t` members includes <jansson.h> and links jansson itself.",
      ].join("\n"),
    ]);
    p.line();
    p.doc([`Service name, as in \`ping\` and the socket address. ${this.from(`${m.file}#/service`)}`]);
    p.line(`#define ${this.up}_SERVICE_NAME ${esc(m.name)}`);
    p.doc([`Schema version this header was generated from. ${this.from(`${m.file}#/version`)}`]);
    p.line(`#define ${this.up}_SERVICE_VERSION ${esc(m.version)}`);
    p.doc([`Protocol number (\`ping\` answers it). ${this.from(`${m.file}#/protocol`)}`]);
    p.line(`#define ${this.up}_PROTOCOL ${m.protocol}`);
    p.doc([`Default socket path. ${this.from(`${m.file}#/socket`)}`]);
    p.line(`#define ${this.up}_SOCKET_PATH ${esc(m.socket.path)}`);
    p.doc([`Environment variable that overrides the socket address. ${this.from(`${m.file}#/socket`)}`]);
    p.line(`#define ${this.up}_SOCKET_ENV ${esc(m.socket.env)}`);
    p.doc([`Abstract socket address. ${this.from(`${m.file}#/socket`)}`]);
    p.line(`#define ${this.up}_SOCKET_ABSTRACT ${esc(m.socket.abstract)}`);
    const errs = Object.entries(m.errors);
    if (errs.length > 0) {
      p.line();
      for (const [code, desc] of errs) {
        p.doc([`Service error code (compare with clp_last_error()): ${desc}`, this.from(`${m.file}#/errors/${escapePointer(code)}`)]);
        p.line(`#define ${this.up}_ERROR_${upperSnake(code)} ${esc(code)}`);
      }
    }
    const caps = Object.entries(m.caps);
    if (caps.length > 0) {
      p.line();
      for (const [cap, desc] of caps) {
        p.doc([`Capability: ${desc}`, this.from(`${m.file}#/caps/${escapePointer(cap)}`)]);
        p.line(`#define ${this.up}_CAP_${upperSnake(cap)} ${esc(cap)}`);
      }
    }

    // Types, dependencies first.
    for (const n of this.types.named) {
      p.line();
      if (n.kind === "enum") this.#enumDecl(p, n.e);
      else this.#structDecl(p, n.s);
    }

    // Commands.
    for (const c of this.commands) {
      p.line();
      this.#commandDecl(p, c);
    }

    if (this.events.length > 0) {
      p.line();
      this.#eventDecls(p);
    }
    return p.toString();
  }

  #enumDecl(p: Printer, e: EnumDef): void {
    p.doc([e.description, this.from(e.from), ...lifecycle(e.since, e.deprecated)]);
    p.block(`typedef enum ${e.name} {`, () => {
      e.values.forEach((v, i) => {
        p.line(`/** ${esc(v.json)} */`);
        p.line(`${e.upper}_${v.c} = ${i},`);
      });
    }, `} ${e.name}_t;`);
    p.line();
    p.doc([`Wire names of ${e.name}_t, indexed by value.`]);
    p.line(`extern const char *const ${e.name}_names[${e.values.length}];`);
    p.line();
    p.doc([
      `@brief The wire name of a ${e.name}_t value.`,
      "@param value the value.",
      "@return a static string, or NULL if @p value is out of range.",
    ]);
    p.line(`const char *${e.name}_to_string(${e.name}_t value);`);
    p.line();
    p.doc([
      `@brief Parse a wire name into a ${e.name}_t.`,
      "@param name the name (borrowed).",
      "@param[out] ret_value receives the value.",
      "@return 0, or CLP_EARG for an unknown name or a NULL argument.",
    ]);
    p.line(`int ${e.name}_from_string(const char *name, ${e.name}_t *ret_value);`);
  }

  #structDecl(p: Printer, s: StructDef): void {
    const owned = this.owned.has(s);
    const consts = s.fields.filter((f) => f.t.k === "const");
    p.doc([
      s.description,
      ...s.notes,
      consts.length > 0
        ? `On the wire it always carries ${consts.map((f) => `"${f.key}": ${JSON.stringify((f.t as { value: unknown }).value)}`).join(", ")} (added when sending, checked when receiving).`
        : undefined,
      owned ? `Owns its members: release with ${s.name}_free().` : undefined,
      this.from(s.from),
      ...lifecycle(s.since, s.deprecated),
    ]);
    p.block(`typedef struct ${s.name} {`, () => {
      for (const f of s.fields) {
        if (f.t.k === "const") continue;
        const doc = [
          f.description || undefined,
          ...f.notes,
          f.required ? undefined : `Optional: present when \`has_${f.c}\` is true.`,
          ownershipNote(f.t, owned),
          f.key ? `${this.from(f.from)}` : undefined,
        ];
        p.doc(doc);
        for (const d of memberDecls(f, owned)) p.line(d);
      }
    }, `} ${s.name}_t;`);
    if (this.toJson.has(s)) {
      p.line();
      const fd = hasFd({ k: "struct", s });
      p.doc([
        `@brief Encode a ${s.name}_t as its JSON form, for building JSON-typed values (such as a member of a oneOf union) by hand.`,
        "@param value the value (borrowed).",
        fd
          ? "@param fd_base FD members are written as {\"fd_index\": fd_base + k}, k counting the FD members in declaration order (array items included); pass those FDs at the same positions in the command's `fds` member."
          : undefined,
        "@param[out] ret_json receives a new jansson reference (json_decref() it); NULL on failure.",
        `@return 0; CLP_EARG (NULL argument, NULL required string, enum out of range, invalid UTF-8${fd ? ", negative FD" : ""}); ${fd ? "CLP_EFD (fd_base too large); " : ""}CLP_ENOMEM.`,
      ]);
      p.line(`int ${s.name}_to_json(const ${s.name}_t *value, ${fd ? "size_t fd_base, " : ""}struct json_t **ret_json);`);
    }
    if (owned) {
      p.line();
      p.doc([
        `@brief Release what a ${s.name}_t owns (strings, arrays, JSON references, FDs not taken) and zero it (FD members become -1).`,
        "@param value the value; safe on NULL and on zeroed values.",
      ]);
      p.line(`void ${s.name}_free(${s.name}_t *value);`);
    }
  }

  #commandDecl(p: Printer, c: CommandPlan): void {
    const m = this.m;
    const ptr = `${m.file}#/commands/${escapePointer(c.c.name)}`;
    if (c.c.since) {
      p.doc([`Service version that introduced \`${c.c.name}\`. ${this.from(ptr + "/since")}`]);
      p.line(`#define ${this.up}_${upperSnake(c.c.name)}_SINCE_VERSION ${esc(c.c.since)}`);
      p.line();
    }
    const params = ["clp_client_t *client"];
    const tags: string[] = ["@param client a connected client (borrowed)."];
    if (c.args) {
      params.push(`const ${c.args.k === "struct" ? c.args.s.name : ""}_t *args`);
      tags.push(c.c.argsRequired ? "@param args the arguments (borrowed)." : "@param args the arguments (borrowed); NULL sends none.");
    }
    if (c.result) {
      params.push(`${c.result.k === "struct" ? c.result.s.name : ""}_t *ret_result`);
      tags.push(`@param[out] ret_result receives the result on success (owned by the caller: ${(c.result as { s: StructDef }).s.name}_free()); zeroed on failure. May be NULL to discard it (it is still checked).`);
    }
    const codes = ["0", "CLP_EREMOTE (service error: " + (c.c.errors.length ? c.c.errors.join(", ") : "see clp_last_error()") + ")", "CLP_EPROTO (result does not match the schema)", "CLP_EARG", "or another code of clp_call()"];
    tags.push(`@return ${codes.join("; ")}.`);
    if (c.c.caps.length > 0) tags.push(`@note Capabilities: ${c.c.caps.join(", ")}.`);
    if (c.sendsFds) tags.push("@note Sends file descriptors (SCM_RIGHTS); they stay the caller's.");
    p.doc([
      `@brief ${c.c.description}`,
      `Sends the \`${c.c.name}\` command.`,
      this.from(ptr),
      ...tags,
      ...lifecycle(c.c.since, c.c.deprecated),
    ]);
    p.line(`int ${c.fn}(${params.join(", ")});`);
  }

  #eventDecls(p: Printer): void {
    const m = this.m;
    for (const e of this.events) {
      if (e.e.since) {
        p.doc([`Service version that introduced the \`${e.e.name}\` event. ${this.from(`${m.file}#/events/${escapePointer(e.e.name)}/since`)}`]);
        p.line(`#define ${this.up}_${upperSnake(e.e.name)}_EVENT_SINCE_VERSION ${esc(e.e.since)}`);
      }
    }
    p.line();
    p.doc([`Kinds of ${this.pfx}_event_t. ${this.from(`${m.file}#/events`)}`]);
    p.block(`typedef enum ${this.pfx}_event_kind {`, () => {
      p.line(`/** An event this header does not know (a newer service); see ${this.pfx}_event_t::raw. */`);
      p.line(`${this.up}_EVENT_UNKNOWN = 0,`);
      p.line(`/** The protocol's \`dropped\` event (events lost to backpressure); see ${this.pfx}_event_t::u.dropped. */`);
      p.line(`${this.up}_EVENT_DROPPED = 1,`);
      this.events.forEach((e, i) => {
        p.doc([`\`${e.e.name}\`: ${e.e.description}`, ...lifecycle(e.e.since, e.e.deprecated)]);
        p.line(`${e.kind} = ${i + 2},`);
      });
    }, `} ${this.pfx}_event_kind_t;`);
    p.line();
    p.doc([
      `@brief The wire name of an event kind ("dropped" for ${this.up}_EVENT_DROPPED).`,
      "@param kind the kind.",
      "@return a static string, or NULL for UNKNOWN and out-of-range values.",
    ]);
    p.line(`const char *${this.pfx}_event_kind_name(${this.pfx}_event_kind_t kind);`);
    p.line();
    p.doc([`Event bits for ${this.pfx}_subscribe().`]);
    this.events.forEach((e, i) => p.line(`#define ${e.mask} (UINT32_C(1) << ${i})`));
    p.line(`#define ${this.up}_EVENT_MASK_ALL UINT32_C(0x${(this.events.length === 32 ? 0xffffffff : (2 ** this.events.length - 1)).toString(16)})`);
    p.line();
    p.doc([
      `A decoded ${m.name} event: a tagged union on \`kind\`. Owns its members: release with ${this.pfx}_event_free().`,
      this.from(`${m.file}#/events`),
    ]);
    p.block(`typedef struct ${this.pfx}_event {`, () => {
      p.line("/** Which member of `u` is valid. */");
      p.line(`${this.pfx}_event_kind_t kind;`);
      p.line("/** The subscription id the event was sent for (0 if absent). */");
      p.line("int64_t sub;");
      p.line("/** The event name (borrowed from `raw`: valid until the event is freed). */");
      p.line("const char *name;");
      p.line("/** The whole event object (owned jansson reference; json_incref() to keep it). */");
      p.line("struct json_t *raw;");
      p.block("union {", () => {
        p.line("/** For " + this.up + "_EVENT_DROPPED. */");
        p.block("struct {", () => {
          p.line("/** Events dropped for `sub` since the previous `dropped` event. */");
          p.line("int64_t count;");
          p.line("/** Why (\"backpressure\"); borrowed from `raw`, NULL if absent. */");
          p.line("const char *reason;");
        }, "} dropped;");
        for (const e of this.events) {
          if (!e.payload) continue;
          p.line(`/** For ${e.kind}. */`);
          p.line(`${(e.payload as { s: StructDef }).s.name}_t ${cName(e.e.name)};`);
        }
      }, "} u;");
    }, `} ${this.pfx}_event_t;`);
    p.line();
    p.doc([
      `@brief Decode an event message (from clp_read_event()) into a typed ${this.pfx}_event_t.`,
      "Payload fields are type-checked against the schema. FDs in the payload are duplicated (the event owns its copies; the message keeps and closes its own). Unknown event names are not an error: they give " + this.up + "_EVENT_UNKNOWN with `raw` set.",
      "@param msg the message (borrowed; may be freed right after).",
      `@param[out] ret_event receives the event (owned by the caller: ${this.pfx}_event_free()); zeroed on failure.`,
      "@return 0; CLP_EARG (NULL argument); CLP_EPROTO (not an event, or a payload that does not match the schema); CLP_ENOMEM; a negated errno if an FD cannot be duplicated.",
    ]);
    p.line(`int ${this.pfx}_event_decode(const clp_msg_t *msg, ${this.pfx}_event_t *ret_event);`);
    p.line();
    p.doc([
      `@brief Release what an event owns and zero it. Safe on NULL and on zeroed events.`,
      "@param event the event.",
    ]);
    p.line(`void ${this.pfx}_event_free(${this.pfx}_event_t *event);`);
    p.line();
    p.doc([
      `@brief Subscribe to ${m.name} events by mask (clp_subscribe() with their names).`,
      "@param client a connected client (borrowed).",
      `@param event_mask a non-empty OR of ${this.up}_EVENT_MASK_* bits.`,
      "@param filter_json a JSON object of filters added to `args` (for example `{\"tag\":\"tick\"}`), or NULL.",
      "@param[out] ret_sub receives the subscription id; may be NULL.",
      "@return as for clp_subscribe(); CLP_EARG for an empty mask or unknown bits.",
    ]);
    p.line(`int ${this.pfx}_subscribe(clp_client_t *client, uint32_t event_mask, const char *filter_json, int64_t *ret_sub);`);
  }

  // -------------------------------------------------------------------------------------------
  // Source
  // -------------------------------------------------------------------------------------------

  tmp(base: string): string {
    return `${base}${this.#tmp++}`;
  }

  source(): string {
    this.#tmp = 0;
    const p = new Printer("    ");
    p.line("#define _POSIX_C_SOURCE 200809L");
    p.line();
    p.line(`#include "${this.m.c}.h"`);
    p.line();
    p.line("#include <stdlib.h>");
    p.line("#include <string.h>");
    p.line("#include <unistd.h>");
    p.line();
    p.line("#include <jansson.h>");
    p.line();
    p.line("#include \"cl_ports_gen.h\"");
    p.line();
    p.line(`#if !defined(CLP_GEN_API_VERSION) || CLP_GEN_API_VERSION != ${GEN_API_VERSION}`);
    p.line(`#error "${this.m.c}.c was generated for cl_ports_gen.h API version ${GEN_API_VERSION}: regenerate it (deno task gen) or use a matching libcopperline-ports"`);
    p.line("#endif");
    const named = this.types.named;
    // Forward declarations (structs may refer to each other in any order).
    const enc = named.filter((n) => n.kind === "struct" && this.encoded.has(n.s)).map((n) => (n as { s: StructDef }).s);
    const dec = named.filter((n) => n.kind === "struct" && this.owned.has(n.s)).map((n) => (n as { s: StructDef }).s);
    if (enc.length + dec.length > 0) p.line();
    for (const s of dec) p.line(`static void init_${s.name}(${s.name}_t *v);`);
    for (const s of dec) p.line(`static int dec_${s.name}(json_t *j, ${s.name}_t *v, clp_gen_rfds_t *fds);`);
    for (const s of enc) p.line(`static int enc_${s.name}(const ${s.name}_t *v, json_t **ret, clp_gen_fds_t *fds);`);

    for (const n of named) {
      if (n.kind !== "enum") continue;
      p.line();
      this.#enumDef(p, n.e);
    }
    for (const s of dec) {
      p.line();
      this.#freeDef(p, s);
      p.line();
      this.#decDef(p, s);
    }
    for (const s of enc) {
      p.line();
      this.#encDef(p, s);
    }
    for (const s of enc) {
      if (!this.toJson.has(s)) continue;
      p.line();
      const fd = hasFd({ k: "struct", s });
      p.block(`int ${s.name}_to_json(const ${s.name}_t *value, ${fd ? "size_t fd_base, " : ""}struct json_t **ret_json) {`, () => {
        if (fd) p.line("clp_gen_fds_t fds;");
        p.line("if (ret_json) *ret_json = NULL;");
        p.line("if (!value || !ret_json) return CLP_EARG;");
        if (fd) {
          p.line("if (fd_base >= CLP_MAX_FDS_PER_MESSAGE) return CLP_EFD;");
          p.line("fds.n = fd_base;");
        }
        p.line(`return enc_${s.name}(value, ret_json, ${fd ? "&fds" : "NULL"});`);
      });
    }
    for (const c of this.commands) {
      p.line();
      this.#commandDef(p, c);
    }
    if (this.events.length > 0) {
      p.line();
      this.#eventDefs(p);
    }
    return p.toString();
  }

  #enumDef(p: Printer, e: EnumDef): void {
    p.block(`const char *const ${e.name}_names[${e.values.length}] = {`, () => {
      for (const v of e.values) p.line(`${esc(v.json)},`);
    }, "};");
    p.line();
    p.block(`const char *${e.name}_to_string(${e.name}_t value) {`, () => {
      p.line(`return (size_t)value < ${e.values.length} ? ${e.name}_names[value] : NULL;`);
    });
    p.line();
    p.block(`int ${e.name}_from_string(const char *name, ${e.name}_t *ret_value) {`, () => {
      p.line("if (!name || !ret_value) return CLP_EARG;");
      p.block(`for (size_t i = 0; i < ${e.values.length}; i++) {`, () => {
        p.block(`if (strcmp(name, ${e.name}_names[i]) == 0) {`, () => {
          p.line(`*ret_value = (${e.name}_t)i;`);
          p.line("return 0;");
        });
      });
      p.line("return CLP_EARG;");
    });
  }

  #freeDef(p: Printer, s: StructDef): void {
    p.block(`static void init_${s.name}(${s.name}_t *v) {`, () => {
      p.line("memset(v, 0, sizeof *v);");
      for (const f of s.fields) {
        if (f.t.k === "fd") p.line(`v->${f.c} = -1;`);
        if (f.t.k === "struct") p.line(`init_${f.t.s.name}(&v->${f.c});`);
      }
    });
    p.line();
    p.block(`void ${s.name}_free(${s.name}_t *v) {`, () => {
      p.line("if (!v) return;");
      for (const f of s.fields) this.#freeMember(p, f.t, `v->${f.c}`);
      p.line(`init_${s.name}(v);`);
    });
  }

  #freeMember(p: Printer, t: CType, lv: string): void {
    switch (t.k) {
      case "str":
        p.line(`free(${lv});`);
        break;
      case "json":
        p.line(`json_decref(${lv});`);
        break;
      case "fd":
        p.line(`if (${lv} >= 0) close(${lv});`);
        break;
      case "struct":
        p.line(`${t.s.name}_free(&${lv});`);
        break;
      case "array": {
        const it = t.item;
        if (it.k === "str" || it.k === "json" || it.k === "fd" || it.k === "struct") {
          const i = this.tmp("i");
          p.block(`for (size_t ${i} = 0; ${lv} && ${i} < ${lv}_len; ${i}++) {`, () => this.#freeMember(p, it, `${lv}[${i}]`));
        }
        p.line(`free(${lv});`);
        break;
      }
      default:
        break;
    }
  }

  /** Copies a sub-printer's lines into `p` at its current indentation. */
  #splice(p: Printer, body: Printer): void {
    const text = body.toString().replace(/\n$/, "");
    if (text === "") return;
    for (const l of text.split("\n")) p.line(l);
  }

  #decDef(p: Printer, s: StructDef): void {
    const body = new Printer("    ");
    for (const fd of s.fields) {
      if (s.wrapper) {
        this.#decValue(body, fd.t, "j", `v->${fd.c}`);
        continue;
      }
      body.line(`f = json_object_get(j, ${esc(fd.key)});`);
      if (fd.t.k === "const") {
        const check = constCheck(fd.t.value, "f");
        body.line(fd.required ? `if (!f || !(${check})) goto proto;` : `if (f && !(${check})) goto proto;`);
        continue;
      }
      if (fd.required) {
        body.line("if (!f) goto proto;");
        this.#decValue(body, fd.t, "f", `v->${fd.c}`);
      } else {
        body.block("if (f) {", () => {
          this.#decValue(body, fd.t, "f", `v->${fd.c}`);
          body.line(`v->has_${fd.c} = true;`);
        });
      }
    }
    const text = body.toString();
    const proto = text.includes("goto proto;"), fail = text.includes("goto fail;");
    p.block(`static int dec_${s.name}(json_t *j, ${s.name}_t *v, clp_gen_rfds_t *fds) {`, () => {
      if (proto || fail) p.line("int rc = 0;");
      if (text.includes("f = json_object_get")) p.line("json_t *f;");
      p.line("(void)fds;");
      p.line(`init_${s.name}(v);`);
      if (!s.wrapper) p.line("if (!json_is_object(j)) return CLP_EPROTO;");
      this.#splice(p, body);
      p.line("return 0;");
      if (proto) {
        p.line("proto:");
        p.line("rc = CLP_EPROTO;");
      }
      if (fail) p.line("fail:");
      if (proto || fail) {
        p.line(`${s.name}_free(v);`);
        p.line("return rc;");
      }
    });
  }

  /** Decodes JSON `j` into lvalue `lv` (for arrays, `lv` and `lv_len`). Jumps to proto/fail. */
  #decValue(p: Printer, t: CType, j: string, lv: string): void {
    switch (t.k) {
      case "int":
        p.line(`if (!json_is_integer(${j})) goto proto;`);
        p.line(`${lv} = (int64_t)json_integer_value(${j});`);
        break;
      case "num":
        p.line(`if (!json_is_number(${j})) goto proto;`);
        p.line(`${lv} = json_number_value(${j});`);
        break;
      case "bool":
        p.line(`if (!json_is_boolean(${j})) goto proto;`);
        p.line(`${lv} = json_is_true(${j});`);
        break;
      case "str":
        p.line(`if ((rc = clp_gen_get_string(${j}, &${lv})) < 0) goto fail;`);
        break;
      case "enum":
        p.line(`if (!json_is_string(${j}) || ${t.e.name}_from_string(json_string_value(${j}), &${lv}) < 0) goto proto;`);
        break;
      case "struct":
        p.line(`if ((rc = dec_${t.s.name}(${j}, &${lv}, fds)) < 0) goto fail;`);
        break;
      case "json":
        p.line(`${lv} = json_incref(${j});`);
        break;
      case "fd":
        p.line(`if ((rc = clp_gen_get_fd(${j}, fds, &${lv})) < 0) goto fail;`);
        break;
      case "array": {
        const n = this.tmp("n"), i = this.tmp("i"), it = this.tmp("it");
        p.line(`if (!json_is_array(${j})) goto proto;`);
        p.block("{", () => {
          p.line(`size_t ${n} = json_array_size(${j});`);
          p.block(`if (${n} > 0) {`, () => {
            p.line(`${lv} = calloc(${n}, sizeof *${lv});`);
            p.line(`if (!${lv}) { rc = CLP_ENOMEM; goto fail; }`);
          });
          p.block(`for (size_t ${i} = 0; ${i} < ${n}; ${i}++) {`, () => {
            p.line(`json_t *${it} = json_array_get(${j}, ${i});`);
            this.#decValue(p, t.item, it, `${lv}[${i}]`);
            p.line(`${lv}_len = ${i} + 1;`);
          });
        });
        break;
      }
      case "const":
        p.line(`if (!(${constCheck(t.value, j)})) goto proto;`);
        break;
    }
  }

  #encDef(p: Printer, s: StructDef): void {
    const body = new Printer("    ");
    if (s.wrapper) {
      this.#encValue(body, s.fields[0].t, `v->${s.fields[0].c}`, "o");
    } else {
      body.line("o = json_object();");
      body.line("if (!o) return CLP_ENOMEM;");
      for (const f of s.fields) {
        if (f.key === "") continue; // raw FDs: placed by the command function
        const put = () => {
          const made = this.#scalarJson(body, f.t, `v->${f.c}`);
          if (made !== undefined) {
            // One line: clp_gen_set takes the new value, or reports why it could not be made.
            body.line(`if ((rc = clp_gen_set(o, ${esc(f.key)}, ${made.expr}, ${made.ifNull})) < 0) goto fail;`);
            return;
          }
          this.#encValue(body, f.t, `v->${f.c}`, "x");
          body.line(`rc = clp_gen_set(o, ${esc(f.key)}, x, CLP_ENOMEM);`);
          body.line("x = NULL;");
          body.line("if (rc < 0) goto fail;");
        };
        if (f.required || f.t.k === "const") put();
        else body.block(`if (v->has_${f.c}) {`, put);
      }
    }
    const text = body.toString();
    const fail = text.includes("goto fail;");
    p.block(`static int enc_${s.name}(const ${s.name}_t *v, json_t **ret, clp_gen_fds_t *fds) {`, () => {
      if (/\brc\b/.test(text)) p.line("int rc = 0;");
      p.line(text.includes("x = ") ? "json_t *o = NULL, *x = NULL;" : "json_t *o = NULL;");
      p.line("(void)fds;");
      p.line("*ret = NULL;");
      this.#splice(p, body);
      p.line("*ret = o;");
      p.line("return 0;");
      if (fail) {
        p.line("fail:");
        if (text.includes("x = ")) p.line("json_decref(x);");
        p.line("json_decref(o);");
        p.line("return rc;");
      }
    });
  }

  /**
   * For a scalar type: emits the checks of `src` that must come first and returns the expression
   * making its JSON value (NULL on failure) with what NULL means. Undefined for composite types,
   * which #encValue encodes into a variable.
   */
  #scalarJson(p: Printer, t: CType, src: string): { expr: string; ifNull: string } | undefined {
    switch (t.k) {
      case "int":
        return { expr: `json_integer((json_int_t)${src})`, ifNull: "CLP_ENOMEM" };
      case "num":
        return { expr: `json_real(${src})`, ifNull: "CLP_EARG" };
      case "bool":
        return { expr: `json_boolean(${src})`, ifNull: "CLP_ENOMEM" };
      case "str":
        p.line(`if (!${src}) { rc = CLP_EARG; goto fail; }`);
        return { expr: `json_string(${src})`, ifNull: "CLP_EARG" };
      case "enum":
        p.line(`if (!${t.e.name}_to_string(${src})) { rc = CLP_EARG; goto fail; }`);
        return { expr: `json_string(${t.e.name}_to_string(${src}))`, ifNull: "CLP_ENOMEM" };
      case "json":
        p.line(`if (!${src}) { rc = CLP_EARG; goto fail; }`);
        return { expr: `json_incref(${src})`, ifNull: "CLP_ENOMEM" };
      case "const":
        return { expr: constJson(t.value), ifNull: "CLP_ENOMEM" };
      default:
        return undefined;
    }
  }

  /** Encodes C value `src` into a new reference stored in `dst` (a json_t * variable). */
  #encValue(p: Printer, t: CType, src: string, dst: string): void {
    const nomem = `if (!${dst}) { rc = CLP_ENOMEM; goto fail; }`;
    switch (t.k) {
      case "int":
        p.line(`${dst} = json_integer((json_int_t)${src});`);
        p.line(nomem);
        break;
      case "num":
        p.line(`${dst} = json_real(${src});`);
        p.line(`if (!${dst}) { rc = CLP_EARG; goto fail; }`);
        break;
      case "bool":
        p.line(`${dst} = json_boolean(${src});`);
        p.line(nomem);
        break;
      case "str":
        p.line(`if (!${src}) { rc = CLP_EARG; goto fail; }`);
        p.line(`${dst} = json_string(${src});`);
        p.line(`if (!${dst}) { rc = CLP_EARG; goto fail; }`);
        break;
      case "enum":
        p.line(`if (!${t.e.name}_to_string(${src})) { rc = CLP_EARG; goto fail; }`);
        p.line(`${dst} = json_string(${t.e.name}_to_string(${src}));`);
        p.line(nomem);
        break;
      case "struct":
        p.line(`if ((rc = enc_${t.s.name}(&${src}, &${dst}, fds)) < 0) goto fail;`);
        break;
      case "json":
        p.line(`if (!${src}) { rc = CLP_EARG; goto fail; }`);
        p.line(`${dst} = json_incref(${src});`);
        break;
      case "fd":
        p.line(`if ((rc = clp_gen_put_fd(fds, ${src}, &${dst})) < 0) goto fail;`);
        break;
      case "const":
        p.line(`${dst} = ${constJson(t.value)};`);
        p.line(nomem);
        break;
      case "array": {
        // The array is stored in dst first, so the caller's cleanup releases it on failure.
        const i = this.tmp("i"), it = this.tmp("it");
        p.line(`if (${src}_len > 0 && !${src}) { rc = CLP_EARG; goto fail; }`);
        p.line(`${dst} = json_array();`);
        p.line(nomem);
        p.block(`for (size_t ${i} = 0; ${i} < ${src}_len; ${i}++) {`, () => {
          p.line(`json_t *${it} = NULL;`);
          this.#encValue(p, t.item, `${src}[${i}]`, it);
          p.line(`if (json_array_append_new(${dst}, ${it}) < 0) { rc = CLP_ENOMEM; goto fail; }`);
        });
        break;
      }
    }
  }

  #commandDef(p: Printer, c: CommandPlan): void {
    const params = ["clp_client_t *client"];
    const argsName = c.args ? (c.args as { s: StructDef }).s.name : undefined;
    const resName = c.result ? (c.result as { s: StructDef }).s.name : undefined;
    if (argsName) params.push(`const ${argsName}_t *args`);
    if (resName) params.push(`${resName}_t *ret_result`);
    p.block(`int ${c.fn}(${params.join(", ")}) {`, () => {
      p.line("int rc;");
      p.line("json_t *jargs = NULL, *jres = NULL;");
      if (c.sendsFds) p.line("clp_gen_fds_t fds;");
      if (resName) {
        p.line("clp_gen_rfds_t rf;");
        p.line(`${resName}_t tmp;`);
        p.line(`if (ret_result) init_${resName}(ret_result);`);
      }
      p.line("if (!client) return CLP_EARG;");
      if (c.sendsFds) p.line("fds.n = 0;");
      if (argsName) {
        const required = c.c.argsRequired;
        if (required) p.line("if (!args) return CLP_EARG;");
        const enc = () => {
          if (c.rawArgFds) p.line("if ((rc = clp_gen_fds_append(&fds, args->fds, args->fds_len)) < 0) return rc;");
          p.line(`rc = enc_${argsName}(args, &jargs, ${c.sendsFds ? "&fds" : "NULL"});`);
          p.line("if (rc < 0) return rc;");
        };
        if (required) enc();
        else {
          p.block("if (args) {", enc);
          p.block("else {", () => {
            p.line("jargs = json_object();");
            p.line("if (!jargs) return CLP_ENOMEM;");
          });
        }
      }
      // clp_gen_call() consumes jargs; with a result it hands over the response's FDs in rf.
      p.line(`rc = clp_gen_call(client, ${esc(c.c.name)}, jargs, ${c.sendsFds ? "&fds" : "NULL"}, &jres, ${resName ? "&rf" : "NULL"});`);
      if (resName) {
        p.line("if (rc < 0) return rc;");
        p.line(`rc = dec_${resName}(jres, &tmp, &rf);`);
        p.line("json_decref(jres);");
        p.line("clp_gen_rfds_release(&rf);");
        p.line("if (rc < 0) return rc;");
        p.line(`if (ret_result) *ret_result = tmp; else ${resName}_free(&tmp);`);
        p.line("return 0;");
      } else {
        p.line("if (rc < 0) return rc;");
        p.line("rc = json_is_object(jres) ? 0 : CLP_EPROTO;");
        p.line("json_decref(jres);");
        p.line("return rc;");
      }
    });
  }

  #eventDefs(p: Printer): void {
    const pf = this.pfx;
    p.block(`const char *${pf}_event_kind_name(${pf}_event_kind_t kind) {`, () => {
      p.block("switch (kind) {", () => {
        p.line(`case ${this.up}_EVENT_DROPPED: return "dropped";`);
        for (const e of this.events) p.line(`case ${e.kind}: return ${esc(e.e.name)};`);
        p.line("default: return NULL;");
      });
    });
    p.line();
    p.block(`void ${pf}_event_free(${pf}_event_t *event) {`, () => {
      p.line("if (!event) return;");
      p.block("switch (event->kind) {", () => {
        for (const e of this.events) {
          if (!e.payload) continue;
          p.line(`case ${e.kind}: ${(e.payload as { s: StructDef }).s.name}_free(&event->u.${cName(e.e.name)}); break;`);
        }
        p.line("default: break;");
      });
      p.line("json_decref(event->raw);");
      p.line("memset(event, 0, sizeof *event);");
    });
    p.line();
    p.block(`int ${pf}_event_decode(const clp_msg_t *msg, ${pf}_event_t *ret_event) {`, () => {
      p.line("json_t *root;");
      p.line("int rc;");
      p.line("clp_gen_rfds_t rf;");
      p.line("if (!ret_event) return CLP_EARG;");
      p.line("memset(ret_event, 0, sizeof *ret_event);");
      p.line("rc = clp_gen_event_open(msg, &root, &ret_event->name, &ret_event->sub, &rf);");
      p.line("if (rc < 0) return rc;");
      p.line("ret_event->raw = root;");
      p.block("if (strcmp(ret_event->name, \"dropped\") == 0) {", () => {
        p.line(`ret_event->kind = ${this.up}_EVENT_DROPPED;`);
        p.line("rc = clp_gen_event_dropped(root, &ret_event->u.dropped.count, &ret_event->u.dropped.reason);");
      });
      for (const e of this.events) {
        p.block(`else if (strcmp(ret_event->name, ${esc(e.e.name)}) == 0) {`, () => {
          if (e.payload) {
            p.line(`rc = dec_${(e.payload as { s: StructDef }).s.name}(root, &ret_event->u.${cName(e.e.name)}, &rf);`);
            p.line(`if (rc == 0) ret_event->kind = ${e.kind};`);
          } else {
            p.line(`ret_event->kind = ${e.kind};`);
          }
        });
      }
      p.block("if (rc < 0) {", () => {
        p.line("json_decref(root);");
        p.line("memset(ret_event, 0, sizeof *ret_event);");
      });
      p.line("return rc;");
    });
    p.line();
    p.block(`int ${pf}_subscribe(clp_client_t *client, uint32_t event_mask, const char *filter_json, int64_t *ret_sub) {`, () => {
      p.line(`const char *names[${this.events.length}];`);
      p.line("size_t n = 0;");
      p.line(`if (event_mask == 0 || (event_mask & ~${this.up}_EVENT_MASK_ALL)) return CLP_EARG;`);
      for (const e of this.events) p.line(`if (event_mask & ${e.mask}) names[n++] = ${esc(e.e.name)};`);
      p.line("return clp_subscribe(client, names, n, filter_json, ret_sub);");
    });
  }
}

function constCheck(v: string | number | boolean, j: string): string {
  if (typeof v === "string") return `json_is_string(${j}) && strcmp(json_string_value(${j}), ${esc(v)}) == 0`;
  if (typeof v === "boolean") return v ? `json_is_true(${j})` : `json_is_false(${j})`;
  return Number.isInteger(v) ? `json_is_integer(${j}) && json_integer_value(${j}) == ${v}` : `json_is_number(${j}) && json_number_value(${j}) == ${v}`;
}

function constJson(v: string | number | boolean): string {
  if (typeof v === "string") return `json_string(${esc(v)})`;
  if (typeof v === "boolean") return v ? "json_true()" : "json_false()";
  return Number.isInteger(v) ? `json_integer(${v})` : `json_real(${v})`;
}
