/**
 * The `docs` target: one Markdown reference per service (`docs/services/<service>.md`): commands
 * with argument and result tables, caps, errors, since/deprecated, FDs, wire examples and portctl
 * lines; events with fields, filters and an example line; shared types. A pure function of the
 * model, like every emitter.
 *
 * @module
 */

import type { EmitContext, GeneratedFile } from "./mod.ts";
import type { CommandModel, EventModel, Json, ServiceModel } from "./model.ts";
import { PROTOCOL_ERRORS } from "./model.ts";

/** Protocol error codes and what they mean (schemas/PROTOCOL.md §6). */
const PROTOCOL_ERROR_TEXT: Record<string, string> = {
  BAD_CMD: "Unknown command.",
  BAD_ARG: "Invalid envelope or arguments; `error.data.path` points at the offending argument.",
  NOT_FOUND: "The object named by the arguments does not exist.",
  DENIED: "Missing or insufficient capability.",
  BUSY: "Rate limit, quota, duplicate request id, or the server is shutting down.",
  TIMEOUT: "Server-side deadline.",
  INTERNAL: "The handler failed.",
  BAD_FRAME: "The line was not valid UTF-8, not JSON, or not a JSON object.",
  TOO_LARGE: "The line exceeded the message size limit.",
  BAD_FD: "Descriptor count or `fd_index` mismatch, or the FD quota was exceeded.",
  CANCELLED: "The request was cancelled by `cancel`.",
};

/** Escapes text for a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

function code(text: string): string {
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function refName(node: Json): string | undefined {
  return typeof node?.$ref === "string" ? node.$ref.replace("#/definitions/", "") : undefined;
}

function typeAnchor(name: string): string {
  return `type-${name.toLowerCase()}`;
}

/** Constraints of a node as short text: `≥ 1`, `≤ 64 chars`, `pattern ...`. */
function constraints(node: Json): string[] {
  const c: string[] = [];
  if (node.minimum !== undefined && node.maximum !== undefined) {
    c.push(`${node.minimum}..${node.maximum}`);
  } else if (node.minimum !== undefined) c.push(`≥ ${node.minimum}`);
  else if (node.maximum !== undefined) c.push(`≤ ${node.maximum}`);
  if (node.exclusiveMinimum !== undefined) c.push(`> ${node.exclusiveMinimum}`);
  if (node.exclusiveMaximum !== undefined) c.push(`< ${node.exclusiveMaximum}`);
  if (node.minLength !== undefined || node.maxLength !== undefined) {
    c.push(`length ${node.minLength ?? 0}..${node.maxLength ?? "∞"}`);
  }
  if (node.minItems !== undefined || node.maxItems !== undefined) {
    c.push(`${node.minItems ?? 0}..${node.maxItems ?? "∞"} items`);
  }
  if (node.pattern !== undefined) c.push(`pattern ${code(node.pattern)}`);
  if (node.default !== undefined) c.push(`default ${code(JSON.stringify(node.default))}`);
  return c;
}

/** The type of a schema node as Markdown (links to shared types). */
export function mdType(node: Json): string {
  if (node === true || node === undefined || node === null) return "any";
  if (node === false) return "never";
  if (node["x-fd"] === true) return "FD (SCM_RIGHTS, `{fd_index}` on the wire)";
  const ref = refName(node);
  if (ref) return `[${ref}](#${typeAnchor(ref)})`;
  let t: string;
  if (node.const !== undefined) t = code(JSON.stringify(node.const));
  else if (Array.isArray(node.enum)) {
    t = node.enum.map((v: unknown) => code(JSON.stringify(v))).join(" \\| ");
  } else if (Array.isArray(node.oneOf ?? node.anyOf)) {
    t = (node.oneOf ?? node.anyOf).map(mdType).join(" \\| ");
  } else if (node.type === "array") t = `array of ${mdType(node.items)}`;
  else if (Array.isArray(node.type)) t = node.type.join(" \\| ");
  else if (
    node.type === "object" && node.additionalProperties &&
    typeof node.additionalProperties === "object"
  ) {
    t = `map of ${mdType(node.additionalProperties)}`;
  } else t = node.type ?? "any";
  const c = constraints(node);
  return c.length > 0 ? `${t} (${c.join(", ")})` : t;
}

function lifecycle(node: Json): string {
  const parts: string[] = [];
  if (node?.since) parts.push(`Since ${node.since}.`);
  if (node?.deprecated) {
    parts.push(node.deprecated === true ? "**Deprecated.**" : `**Deprecated:** ${node.deprecated}`);
  }
  return parts.join(" ");
}

interface Row {
  field: string;
  type: string;
  required: boolean;
  description: string;
}

/**
 * Flattens an object schema into rows with dotted names: nested object properties (inline or a
 * `$ref` to an object type used only once here) are expanded one level at a time.
 */
function rows(
  node: Json,
  defs: Record<string, Json>,
  prefix = "",
  depth = 0,
  seen = new Set<string>(),
): Row[] {
  const out: Row[] = [];
  const props: Record<string, Json> = node?.properties ?? {};
  const required: string[] = node?.required ?? [];
  for (const [name, prop] of Object.entries(props)) {
    const field = prefix + name;
    const desc = [prop.description ?? "", lifecycle(prop)].filter(Boolean).join(" ");
    out.push({ field, type: mdType(prop), required: required.includes(name), description: desc });
    // Expand inline objects, and objects behind a ref (once per path, to stop recursion).
    const ref = refName(prop);
    const target = ref ? defs[ref] : prop;
    if (depth < 4 && target?.properties && target["x-fd"] !== true && !(ref && seen.has(ref))) {
      const next = new Set(seen);
      if (ref) next.add(ref);
      out.push(...rows(target, defs, field + ".", depth + 1, next));
    }
  }
  return out;
}

function table(r: Row[], withRequired: boolean): string[] {
  if (r.length === 0) return [withRequired ? "None." : "`{}` (no fields)."];
  const lines = withRequired
    ? ["| Field | Type | Required | Description |", "|---|---|---|---|"]
    : ["| Field | Type | Always | Description |", "|---|---|---|---|"];
  for (const x of r) {
    lines.push(
      `| ${code(x.field)} | ${x.type} | ${x.required ? "yes" : "no"} | ${cell(x.description)} |`,
    );
  }
  return lines;
}

/** How many descriptors a wire value references (highest `fd_index` + 1). */
function fdCount(value: Json): number {
  let n = 0;
  const walk = (v: Json) => {
    if (v === null || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach(walk);
    if (typeof v.fd_index === "number" && Object.keys(v).length === 1) {
      n = Math.max(n, v.fd_index + 1);
    } else Object.values(v).forEach(walk);
  };
  walk(value);
  return n;
}

/** Quotes a word for a POSIX shell (single quotes when needed). */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_.,:=@%+/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A portctl command line for an example's args. */
function portctlLine(
  service: string,
  c: CommandModel,
  args: Json,
  defs: Record<string, Json>,
): string {
  const words = ["portctl", service, c.name];
  const fds: string[] = [];
  for (const [k, v] of Object.entries<Json>(args ?? {})) {
    const prop = c.args?.properties?.[k];
    const ref = refName(prop);
    const target = ref ? defs[ref] : prop;
    if (
      v !== null && typeof v === "object" && typeof v.fd_index === "number" &&
      target?.["x-fd"] === true
    ) {
      fds.push(`--fd ${k}=FILE`);
    } else if (typeof v === "string") {
      // A string that would parse as JSON is kept as a string by portctl only for string-typed args.
      let parses = true;
      try {
        JSON.parse(v);
      } catch {
        parses = false;
      }
      words.push(
        shellWord(parses && target?.type !== "string" ? `${k}:=${JSON.stringify(v)}` : `${k}=${v}`),
      );
    } else if (v !== null && typeof v === "object") {
      words.push(shellWord(`${k}:=${JSON.stringify(v)}`));
    } else words.push(shellWord(`${k}=${JSON.stringify(v)}`));
  }
  return [...words, ...fds].join(" ");
}

function commandSection(m: ServiceModel, c: CommandModel, p: string[]): void {
  const defs = m.definitions;
  p.push(`### \`${c.name}\``, "");
  if (c.deprecated) {
    p.push(c.deprecated === true ? "> **Deprecated.**" : `> **Deprecated:** ${c.deprecated}`, "");
  }
  p.push(c.description, "");
  const facts: string[] = [];
  facts.push(`- **Caps:** ${c.caps.length ? c.caps.map(code).join(", ") : "none"}`);
  facts.push(
    `- **Errors:** ${c.errors.length ? c.errors.map(code).join(", ") : "protocol errors only"}`,
  );
  if (c.since) facts.push(`- **Since:** ${c.since}`);
  if (c.fds) {
    const where = [c.argsFds ? "arguments" : "", c.resultFds ? "result" : ""].filter(Boolean).join(
      " and ",
    );
    facts.push(
      `- **File descriptors:** in the ${where} (SCM_RIGHTS; needs an FD-capable transport)`,
    );
    if (c.argsFds) {
      facts.push(
        "- **Ownership (arguments):** the caller lends its descriptors and still closes them; the service owns the copies it receives and closes them when the handler returns unless it keeps them",
      );
    }
    if (c.resultFds) {
      facts.push("- **Ownership (result):** descriptors in the result belong to the caller, who must close them");
    }
  }
  p.push(...facts, "");
  p.push("**Arguments**", "");
  p.push(...(c.args ? table(rows(c.args, defs), true) : ["None."]), "");
  p.push("**Result**", "");
  p.push(...(c.result ? table(rows(c.result, defs), false) : ["`{}`"]), "");
  if (c.examples.length === 0) {
    p.push("**Example**", "", "```json", JSON.stringify({ id: 1, cmd: c.name }), "```", "");
    return;
  }
  c.examples.forEach((ex, i) => {
    const title = ex.title ? `: ${ex.title}` : "";
    p.push(`**Example${c.examples.length > 1 ? ` ${i + 1}` : ""}${title}**`, "");
    const req: Json = { id: i + 1, cmd: c.name };
    const nfd = fdCount(ex.args);
    if (nfd > 0) req.fds = nfd;
    if (ex.args !== undefined && (Object.keys(ex.args).length > 0 || c.args)) req.args = ex.args;
    p.push("```json", JSON.stringify(req));
    if (ex.result !== undefined) p.push(JSON.stringify({ ok: true, id: i + 1, result: ex.result }));
    p.push("```", "");
    p.push("```sh", portctlLine(m.name, c, ex.args, defs), "```", "");
  });
}

function eventSection(m: ServiceModel, e: EventModel, p: string[]): void {
  p.push(`### Event \`${e.name}\``, "");
  if (e.deprecated) {
    p.push(e.deprecated === true ? "> **Deprecated.**" : `> **Deprecated:** ${e.deprecated}`, "");
  }
  p.push(e.description, "");
  p.push(`- **Filters:** ${e.filters.length ? e.filters.map(code).join(", ") : "none"}`);
  if (e.caps.length) p.push(`- **Caps:** ${e.caps.map(code).join(", ")} (checked at \`subscribe\`)`);
  if (e.since) p.push(`- **Since:** ${e.since}`);
  if (e.fds) {
    p.push("- **File descriptors:** in the payload (SCM_RIGHTS); each subscriber owns the descriptors it receives and must close them");
  }
  p.push("", "**Fields**", "");
  p.push(...(e.payload ? table(rows(e.payload, m.definitions), false) : ["None."]), "");
  const filters = Object.fromEntries(
    e.filters.filter((f) => e.example?.[f] !== undefined).map((f) => [f, e.example[f]]),
  );
  p.push("**Example**", "", "```json");
  p.push(JSON.stringify({ id: 1, cmd: "subscribe", args: { events: [e.name], ...filters } }));
  p.push(JSON.stringify({ ok: true, id: 1, result: { sub: 1, events: [e.name] } }));
  p.push(JSON.stringify({ event: e.name, sub: 1, ...(e.example ?? {}) }));
  p.push("```", "");
  const fw = Object.entries(filters).map(([k, v]) =>
    shellWord(`${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
  );
  p.push(
    "```sh",
    ["portctl", m.name, "subscribe", `events=${e.name}`, ...fw, "--count", "1"].join(" "),
    "```",
    "",
  );
}

function typeSection(name: string, def: Json, defs: Record<string, Json>, p: string[]): void {
  p.push(`### Type \`${name}\``, "");
  if (def.description) p.push(def.description, "");
  const lc = lifecycle(def);
  if (lc) p.push(lc, "");
  if (def.properties) {
    p.push(...table(rows(def, defs, "", 1), true), "");
    if (def.additionalProperties === false) p.push("No other fields are allowed.", "");
  } else if (Array.isArray(def.oneOf ?? def.anyOf)) {
    p.push(`One of:`, "");
    for (const v of def.oneOf ?? def.anyOf) {
      p.push(`- ${mdType(v)}${v.description && !refName(v) ? `: ${v.description}` : ""}`);
    }
    p.push("");
  } else {
    p.push(`Type: ${mdType(def)}`, "");
  }
}

/**
 * Emits `<service>.md`.
 *
 * @param m The service model.
 * @param ctx Stamps and templates.
 */
export function emitDocs(m: ServiceModel, ctx: EmitContext): GeneratedFile[] {
  const p: string[] = [ctx.stamp("md"), ""];
  p.push(`# ${m.name}`, "");
  if (m.title && m.title !== m.name) p.push(`**${m.title}**`, "");
  if (m.description) p.push(m.description, "");
  p.push(
    `- **Version:** ${m.version} (ports protocol ${m.protocol})`,
    `- **Socket:** ${code(m.socket.path)}, or ${code("$" + m.socket.env)}; abstract ${
      code(m.socket.abstract)
    }`,
    `- **File descriptors:** ${
      m.fdPassing ? "yes: connect with an FD-capable transport (SCM_RIGHTS)" : "none"
    }`,
    `- **Source:** ${code(m.file)}`,
    "",
    "Requests, responses and events are one JSON object per line (NDJSON); see",
    "[schemas/PROTOCOL.md](../../schemas/PROTOCOL.md). Every service also answers the built-in",
    "`ping`, `describe`, `subscribe`, `unsubscribe` and `cancel`. From a shell:",
    "",
    "```sh",
    `portctl ${m.name} describe`,
    `echo '{"cmd":"ping"}' | socat - UNIX-CONNECT:${m.socket.path}`,
    "```",
    "",
  );

  p.push("## Commands", "", "| Command | Description | Caps | Since |", "|---|---|---|---|");
  for (const c of m.commands) {
    const dep = c.deprecated ? " **(deprecated)**" : "";
    p.push(
      `| [\`${c.name}\`](#${c.name})${dep} | ${cell(c.description.split(/(?<=\.)\s/)[0])} | ${
        c.caps.map(code).join(", ") || "-"
      } | ${c.since ?? "-"} |`,
    );
  }
  p.push("");
  if (m.events.length > 0) {
    p.push("## Events", "", "| Event | Description | Filters | Since |", "|---|---|---|---|");
    for (const e of m.events) {
      const dep = e.deprecated ? " **(deprecated)**" : "";
      p.push(
        `| [\`${e.name}\`](#event-${e.name})${dep} | ${
          cell(e.description.split(/(?<=\.)\s/)[0])
        } | ${e.filters.map(code).join(", ") || "-"} | ${e.since ?? "-"} |`,
      );
    }
    p.push("");
  }

  const caps = Object.entries(m.caps);
  if (caps.length > 0) {
    p.push("## Capabilities", "", "| Capability | Meaning |", "|---|---|");
    for (const [k, v] of caps) p.push(`| ${code(k)} | ${cell(v)} |`);
    p.push("");
  }
  p.push("## Errors", "", "| Code | Meaning |", "|---|---|");
  for (const [k, v] of Object.entries(m.errors)) p.push(`| ${code(k)} | ${cell(v)} |`);
  const used = new Set(m.commands.flatMap((c) => c.errors));
  for (const k of PROTOCOL_ERRORS) {
    if (used.has(k)) p.push(`| ${code(k)} | ${cell(PROTOCOL_ERROR_TEXT[k])} (protocol) |`);
  }
  p.push("");

  p.push("## Command reference", "");
  for (const c of m.commands) commandSection(m, c, p);
  if (m.events.length > 0) {
    p.push("## Event reference", "");
    for (const e of m.events) eventSection(m, e, p);
  }
  const defs = Object.entries(m.definitions);
  if (defs.length > 0) {
    p.push("## Types", "");
    for (const [name, def] of defs) typeSection(name, def, m.definitions, p);
  }
  const content = p.join("\n").replace(/\n{3,}/g, "\n\n").replace(/\n+$/, "") + "\n";
  return [{ target: "docs", path: `${m.name}.md`, content }];
}
