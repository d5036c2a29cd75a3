/**
 * Schema evolution check: compares a service schema with an earlier version and lists every
 * breaking and every compatible change.
 *
 * ```sh
 * deno run -A codegen/cli.ts compat git:HEAD~3:schemas/copperd.json schemas/copperd.json
 * deno run -A codegen/cli.ts compat old/copperd.json schemas/copperd.json
 * ```
 *
 * One line per change (`BREAKING commands/load/args/program: became required`, `compatible
 * commands/list: added`), then a summary. Exit 1 on a breaking change unless the service's major
 * version (its minor version while 0.x) or the protocol was bumped; 0 otherwise; 2 on bad usage or
 * unreadable input.
 *
 * Arguments are checked as input (what clients send: narrowing breaks), results and event payloads
 * as output (what clients read: removing or changing breaks).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { compareSemver, type Json } from "./model.ts";

/** One difference between two schema versions. */
export interface Change {
  breaking: boolean;
  /** Where: `commands/load/args/program`, `events/irq/payload/tag`, `definitions/Program/version`. */
  path: string;
  /** What: `removed`, `became required`, `type narrowed number → integer`. */
  message: string;
}

/** Formats a change as its output line. */
export function formatChange(c: Change): string {
  return `${c.breaking ? "BREAKING" : "compatible"} ${c.path}: ${c.message}`;
}

type Direction = "in" | "out";

const BOUNDS_LOWER = ["minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties"];
const BOUNDS_UPPER = ["maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties"];

function types(node: Json): Set<string> | undefined {
  if (node === null || typeof node !== "object") return undefined;
  if (node.type === undefined) return undefined;
  return new Set(Array.isArray(node.type) ? node.type : [node.type]);
}

function show(v: unknown): string {
  return JSON.stringify(v);
}

function refName(node: Json): string | undefined {
  return typeof node?.$ref === "string" ? node.$ref.replace("#/definitions/", "") : undefined;
}

/**
 * Compares two service schemas (parsed JSON).
 *
 * @param oldSchema The earlier version.
 * @param newSchema The later version.
 * @returns Every change found, in schema order.
 */
export function compareSchemas(oldSchema: Json, newSchema: Json): Change[] {
  const changes: Change[] = [];
  const add = (breaking: boolean, path: string, message: string) =>
    changes.push({ breaking, path, message });
  const oldDefs: Record<string, Json> = oldSchema.definitions ?? {};
  const newDefs: Record<string, Json> = newSchema.definitions ?? {};
  /** Definitions already compared in a direction (shared types are reported once, at their name). */
  const comparedDefs = new Set<string>();
  /** Old definitions reachable from commands and events. */
  const usedBy = new Map<string, string>();

  const noteUses = (node: Json, where: string, seen = new Set<string>()) => {
    const walk = (n: Json) => {
      if (n === null || typeof n !== "object") return;
      if (Array.isArray(n)) return n.forEach(walk);
      const r = refName(n);
      if (r && !seen.has(r)) {
        seen.add(r);
        if (!usedBy.has(r)) usedBy.set(r, where);
        walk(oldDefs[r]);
      }
      for (const v of Object.values(n)) walk(v);
    };
    walk(node);
  };

  const lifecycle = (o: Json, n: Json, path: string) => {
    if (!o?.deprecated && n?.deprecated) {
      add(
        false,
        path,
        "deprecated" + (typeof n.deprecated === "string" ? ` (${n.deprecated})` : ""),
      );
    }
    if (o?.deprecated && !n?.deprecated) add(false, path, "no longer deprecated");
    if ((o?.description ?? "") !== (n?.description ?? "") && o?.description !== undefined) {
      add(false, path, "description changed");
    }
    if (o?.since !== n?.since && n?.since !== undefined && o?.since !== undefined) {
      add(false, path, `since changed ${o.since} → ${n.since}`);
    }
  };

  const compare = (o: Json, n: Json, path: string, dir: Direction, depth = 0): void => {
    if (depth > 64) return;
    const ro = refName(o), rn = refName(n);
    if (ro && rn && ro === rn) {
      // The same shared type on both sides: compare the definitions once per direction.
      lifecycle(o, n, path);
      const key = `${dir}:${ro}`;
      if (comparedDefs.has(key)) return;
      comparedDefs.add(key);
      if (!newDefs[rn]) return; // reported as a removed definition
      compare(oldDefs[ro], newDefs[rn], `definitions/${ro}`, dir, depth + 1);
      return;
    }
    if (ro || rn) {
      if (ro && rn) add(false, path, `type reference changed ${ro} → ${rn}`);
      const oo = ro ? oldDefs[ro] : o, nn = rn ? newDefs[rn] : n;
      lifecycle(o, n, path);
      if (oo === undefined || nn === undefined) return;
      compare(
        ro ? { ...oo, description: o.description } : oo,
        rn ? { ...nn, description: n.description } : nn,
        path,
        dir,
        depth + 1,
      );
      return;
    }
    if (
      n === undefined || n === true ||
      (typeof n === "object" && n !== null && Object.keys(n).length === 0)
    ) {
      if (
        o !== undefined && o !== true && !(typeof o === "object" && Object.keys(o).length === 0)
      ) {
        add(
          dir === "out",
          path,
          dir === "in" ? "now accepts any value" : "no longer described (any value)",
        );
      }
      return;
    }
    if (o === undefined || o === true || typeof o !== "object" || typeof n !== "object") return;
    lifecycle(o, n, path);

    // File descriptors.
    if ((o["x-fd"] === true) !== (n["x-fd"] === true)) {
      add(
        true,
        path,
        n["x-fd"] === true ? "became a file descriptor" : "is no longer a file descriptor",
      );
      return;
    }

    // Types.
    const to = types(o), tn = types(n);
    if (to && tn) {
      const covers = (set: Set<string>, t: string) =>
        set.has(t) || (t === "integer" && set.has("number"));
      const lost = [...to].filter((t) => !covers(tn, t));
      const gained = [...tn].filter((t) => !covers(to, t));
      const sameSets = lost.length === 0 && gained.length === 0 && to.size === tn.size &&
        [...to].every((t) => tn.has(t));
      if (!sameSets) {
        const text = `${[...to].join("|")} → ${[...tn].join("|")}`;
        if (dir === "in") {
          if (lost.length > 0) add(true, path, `type narrowed ${text}`);
          else add(false, path, `type widened ${text}`);
        } else add(true, path, `type changed ${text}`);
      }
    } else if (
      !to && tn && dir === "in" && !(o.enum || o.const !== undefined || o.oneOf || o.anyOf)
    ) {
      add(true, path, `type narrowed any → ${[...tn].join("|")}`);
    }

    // const / enum.
    if (o.const !== undefined || n.const !== undefined) {
      if (show(o.const) !== show(n.const)) {
        if (n.const === undefined) add(dir === "out", path, `const ${show(o.const)} removed`);
        else add(true, path, `const changed ${show(o.const)} → ${show(n.const)}`);
      }
    }
    if (Array.isArray(o.enum) || Array.isArray(n.enum)) {
      const eo = (o.enum ?? []).map(show), en = (n.enum ?? []).map(show);
      if (Array.isArray(o.enum) && !Array.isArray(n.enum)) {
        add(dir === "out", path, "enum removed (any value of the type)");
      } else if (!Array.isArray(o.enum)) {
        add(dir === "in", path, `restricted to enum ${en.join(", ")}`);
      } else {
        for (const v of eo) if (!en.includes(v)) add(dir === "in", path, `enum value ${v} removed`);
        for (const v of en) if (!eo.includes(v)) add(false, path, `enum value ${v} added`);
      }
    }

    // Bounds: a tighter bound narrows an input; outputs only report them.
    for (const k of BOUNDS_LOWER) {
      if (o[k] === n[k]) continue;
      if (n[k] !== undefined && (o[k] === undefined || n[k] > o[k])) {
        add(dir === "in", path, `${k} narrowed ${o[k] ?? "none"} → ${n[k]}`);
      } else add(false, path, `${k} relaxed ${o[k]} → ${n[k] ?? "none"}`);
    }
    for (const k of BOUNDS_UPPER) {
      if (o[k] === n[k]) continue;
      if (n[k] !== undefined && (o[k] === undefined || n[k] < o[k])) {
        add(dir === "in", path, `${k} narrowed ${o[k] ?? "none"} → ${n[k]}`);
      } else add(false, path, `${k} relaxed ${o[k]} → ${n[k] ?? "none"}`);
    }
    if (o.pattern !== n.pattern) {
      if (n.pattern === undefined) add(false, path, "pattern removed");
      else {add(
          dir === "in",
          path,
          o.pattern === undefined
            ? `pattern ${show(n.pattern)} added`
            : `pattern changed ${show(o.pattern)} → ${show(n.pattern)}`,
        );}
    }
    if (o.format !== n.format && n.format !== undefined) {
      add(dir === "in", path, `format ${show(n.format)} required`);
    }

    // Objects.
    if (o.properties || n.properties) {
      const po: Record<string, Json> = o.properties ?? {},
        pn: Record<string, Json> = n.properties ?? {};
      const reqO = new Set<string>(o.required ?? []), reqN = new Set<string>(n.required ?? []);
      for (const [k, v] of Object.entries(po)) {
        const p = `${path}/${k}`;
        if (!(k in pn)) {
          if (dir === "in") {
            add(
              n.additionalProperties === false,
              p,
              n.additionalProperties === false ? "removed (now rejected)" : "removed (ignored)",
            );
          } else add(true, p, "removed");
          continue;
        }
        compare(v, pn[k], p, dir, depth + 1);
        if (dir === "in") {
          if (!reqO.has(k) && reqN.has(k)) add(true, p, "became required");
          if (reqO.has(k) && !reqN.has(k)) add(false, p, "became optional");
        } else {
          if (reqO.has(k) && !reqN.has(k)) add(true, p, "no longer always present");
          if (!reqO.has(k) && reqN.has(k)) add(false, p, "now always present");
        }
      }
      for (const k of Object.keys(pn)) {
        if (k in po) continue;
        const p = `${path}/${k}`;
        if (dir === "in") {
          if (reqN.has(k)) add(true, p, "added as a required argument");
          else add(false, p, "added (optional)");
        } else add(false, p, "added");
      }
    }
    if (o.additionalProperties !== false && n.additionalProperties === false) {
      add(dir === "in", path, "additionalProperties false added (unknown fields now rejected)");
    } else if (o.additionalProperties === false && n.additionalProperties !== false) {
      add(dir === "out", path, "additionalProperties false removed");
    }
    if (typeof o.additionalProperties === "object" && typeof n.additionalProperties === "object") {
      compare(o.additionalProperties, n.additionalProperties, `${path}/*`, dir, depth + 1);
    }

    // Arrays.
    if (o.items !== undefined || n.items !== undefined) {
      if (Array.isArray(o.items) || Array.isArray(n.items)) {
        if (show(o.items) !== show(n.items)) add(true, `${path}/items`, "tuple items changed");
      } else compare(o.items, n.items ?? true, `${path}/items`, dir, depth + 1);
    }

    // Unions, by position.
    for (const k of ["oneOf", "anyOf"]) {
      const a: Json[] | undefined = o[k], b: Json[] | undefined = n[k];
      if (!a && !b) continue;
      if (a && !b) {
        if (!tn) add(true, path, `${k} removed`);
        continue;
      }
      if (!a && b) {
        add(dir === "in", path, `${k} added`);
        continue;
      }
      const names = (xs: Json[]) => xs.map((x: Json) => refName(x) ?? show(x));
      const na = names(a!), nb = names(b!);
      const matched = new Set<number>();
      a!.forEach((v, i) => {
        let j = nb.indexOf(na[i]);
        if (j < 0 && i < b!.length && !matched.has(i) && !na.includes(nb[i])) j = i;
        if (j < 0) {
          add(dir === "in", `${path}/${k}/${i}`, `variant ${refName(v) ?? i} removed`);
          return;
        }
        matched.add(j);
        compare(v, b![j], `${path}/${k}/${refName(v) ?? i}`, dir, depth + 1);
      });
      b!.forEach((v, j) => {
        if (!matched.has(j)) {
          add(dir === "out", `${path}/${k}/${j}`, `variant ${refName(v) ?? j} added`);
        }
      });
    }
  };

  // Top level.
  if (oldSchema.service !== newSchema.service) {
    add(true, "service", `renamed ${show(oldSchema.service)} → ${show(newSchema.service)}`);
  }
  if (oldSchema.protocol !== newSchema.protocol) {
    add(true, "protocol", `changed ${oldSchema.protocol} → ${newSchema.protocol}`);
  }
  for (const k of ["path", "env", "abstract"]) {
    if (oldSchema.socket?.[k] !== undefined && oldSchema.socket?.[k] !== newSchema.socket?.[k]) {
      add(
        true,
        `socket/${k}`,
        `changed ${show(oldSchema.socket[k])} → ${show(newSchema.socket?.[k])}`,
      );
    }
  }

  const oc: Record<string, Json> = oldSchema.commands ?? {},
    nc: Record<string, Json> = newSchema.commands ?? {};
  for (const [name, c] of Object.entries(oc)) {
    noteUses(c.args, `commands/${name}/args`);
    noteUses(c.result, `commands/${name}/result`);
  }
  const oe: Record<string, Json> = oldSchema.events ?? {},
    ne: Record<string, Json> = newSchema.events ?? {};
  for (const [name, e] of Object.entries(oe)) noteUses(e.payload, `events/${name}/payload`);

  for (const [name, c] of Object.entries(oc)) {
    const p = `commands/${name}`;
    const d = nc[name];
    if (!d) {
      add(true, p, "removed");
      continue;
    }
    lifecycle(c, d, p);
    // Arguments (input).
    if (c.args || d.args) {
      compare(
        c.args ?? { type: "object", properties: {} },
        d.args ?? { type: "object", properties: {} },
        `${p}/args`,
        "in",
      );
    }
    // Result (output).
    if (c.result && !d.result) add(true, `${p}/result`, "removed (now {})");
    else if (!c.result && d.result) add(false, `${p}/result`, "declared");
    else if (c.result && d.result) compare(c.result, d.result, `${p}/result`, "out");
    const capsO: string[] = c.caps ?? [], capsN: string[] = d.caps ?? [];
    for (const cap of capsN) {
      if (!capsO.includes(cap)) add(true, `${p}/caps`, `now requires capability ${show(cap)}`);
    }
    for (const cap of capsO) {
      if (!capsN.includes(cap)) {
        add(false, `${p}/caps`, `no longer requires capability ${show(cap)}`);
      }
    }
    const errO: string[] = c.errors ?? [], errN: string[] = d.errors ?? [];
    for (const e of errN) if (!errO.includes(e)) add(false, `${p}/errors`, `may also answer ${e}`);
    for (const e of errO) {
      if (!errN.includes(e)) add(false, `${p}/errors`, `no longer answers ${e}`);
    }
  }
  for (const name of Object.keys(nc)) {
    if (!(name in oc)) {
      add(
        false,
        `commands/${name}`,
        "added" + (nc[name].since ? ` (since ${nc[name].since})` : ""),
      );
    }
  }

  for (const [name, e] of Object.entries(oe)) {
    const p = `events/${name}`;
    const d = ne[name];
    if (!d) {
      add(true, p, "removed");
      continue;
    }
    lifecycle(e, d, p);
    if (e.payload || d.payload) {
      compare(
        e.payload ?? { type: "object", properties: {} },
        d.payload ?? { type: "object", properties: {} },
        `${p}/payload`,
        "out",
      );
    }
    const fo: string[] = e.filters ?? [], fn: string[] = d.filters ?? [];
    for (const f of fo) if (!fn.includes(f)) add(true, `${p}/filters`, `filter ${show(f)} removed`);
    for (const f of fn) if (!fo.includes(f)) add(false, `${p}/filters`, `filter ${show(f)} added`);
    const co: string[] = e.caps ?? [], cn: string[] = d.caps ?? [];
    for (const cap of cn) if (!co.includes(cap)) add(true, `${p}/caps`, `subscribing now requires capability ${show(cap)}`);
    for (const cap of co) if (!cn.includes(cap)) add(false, `${p}/caps`, `subscribing no longer requires capability ${show(cap)}`);
  }
  for (const name of Object.keys(ne)) {
    if (!(name in oe)) {
      add(false, `events/${name}`, "added" + (ne[name].since ? ` (since ${ne[name].since})` : ""));
    }
  }

  for (const name of Object.keys(oldDefs)) {
    if (name in newDefs) continue;
    const user = usedBy.get(name);
    const stillUsed = JSON.stringify(newSchema).includes(`"#/definitions/${name}"`);
    if (user && stillUsed) add(true, `definitions/${name}`, `removed (used by ${user})`);
    else {add(
        false,
        `definitions/${name}`,
        user ? `removed (its users changed: ${user})` : "removed (unused)",
      );}
  }
  for (const name of Object.keys(newDefs)) {
    if (!(name in oldDefs)) add(false, `definitions/${name}`, "added");
  }

  const oldCaps = Object.keys(oldSchema.caps ?? {}), newCaps = Object.keys(newSchema.caps ?? {});
  for (const k of newCaps) if (!oldCaps.includes(k)) add(false, `caps/${k}`, "added");
  for (const k of oldCaps) if (!newCaps.includes(k)) add(false, `caps/${k}`, "removed");
  const oldErr = Object.keys(oldSchema.errors ?? {}), newErr = Object.keys(newSchema.errors ?? {});
  for (const k of newErr) if (!oldErr.includes(k)) add(false, `errors/${k}`, "added");
  for (const k of oldErr) if (!newErr.includes(k)) add(false, `errors/${k}`, "removed");
  return changes;
}

/**
 * Whether the versions allow breaking changes: the protocol changed, or the major version was
 * bumped (the minor version while the major is 0).
 */
export function bumpAllowsBreaking(
  oldSchema: Json,
  newSchema: Json,
): { allowed: boolean; why: string } {
  if (oldSchema.protocol !== newSchema.protocol) {
    return { allowed: true, why: "the protocol changed" };
  }
  const parse = (v: unknown) => String(v ?? "0.0.0").split(/[.-]/).slice(0, 3).map(Number);
  const [oMaj, oMin] = parse(oldSchema.version), [nMaj, nMin] = parse(newSchema.version);
  if (nMaj > oMaj) {
    return {
      allowed: true,
      why: `the major version was bumped (${oldSchema.version} → ${newSchema.version})`,
    };
  }
  if (oMaj === 0 && nMaj === 0 && nMin > oMin) {
    return {
      allowed: true,
      why: `the minor version was bumped while 0.x (${oldSchema.version} → ${newSchema.version})`,
    };
  }
  return {
    allowed: false,
    why: oMaj === 0
      ? `bump the minor version (0.x) or the protocol: ${oldSchema.version} → ${newSchema.version} is not enough`
      : `bump the major version: ${oldSchema.version} → ${newSchema.version} is not enough`,
  };
}

class CompatUsage extends Error {}

/** Reads `git:REV:path` (via `git show`) or a file. */
async function readSchema(spec: string): Promise<{ text: string; name: string }> {
  const m = /^git:([^:]+):(.+)$/.exec(spec);
  if (m) {
    let out;
    try {
      out = await new Deno.Command("git", {
        args: ["show", `${m[1]}:${m[2]}`],
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (error) {
      throw new CompatUsage(`cannot run git: ${(error as Error).message}`);
    }
    if (out.code !== 0) {
      const why = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
      throw new CompatUsage(`cannot read ${spec}: ${why}`);
    }
    return { text: new TextDecoder().decode(out.stdout), name: spec };
  }
  try {
    return { text: await Deno.readTextFile(spec), name: spec };
  } catch (error) {
    throw new CompatUsage(
      `cannot read ${spec}: ${
        error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
      }`,
    );
  }
}

function parseSchema(text: string, name: string): Json {
  let v: Json;
  try {
    v = JSON.parse(text);
  } catch (error) {
    throw new CompatUsage(`${name}: invalid JSON: ${(error as Error).message}`);
  }
  if (
    v === null || typeof v !== "object" || typeof v.commands !== "object" ||
    typeof v.service !== "string"
  ) {
    throw new CompatUsage(`${name}: not a service schema (needs "service" and "commands")`);
  }
  return v;
}

export const COMPAT_USAGE = `Usage: codegen compat OLD NEW [--quiet]

Compares a service schema with an earlier version and lists every change, one per line:
  BREAKING <path>: <what>      e.g. BREAKING commands/load/args/program: became required
  compatible <path>: <what>    e.g. compatible commands/list: added

OLD and NEW are file paths or git:REV:path (read with git show), e.g.
  codegen compat git:HEAD~1:schemas/copperd.json schemas/copperd.json

Breaking: a removed command, event or filter; a new required argument or capability; an argument
type narrowed, an enum value removed, min/max/length/pattern tightened, additionalProperties false
added; a result or payload field removed, no longer always present or of another type; a removed
definition still in use; a renamed service, changed socket or protocol.
Compatible: added commands, events, optional arguments, result fields, enum values, filters,
definitions, errors; deprecations; relaxed constraints; description changes.

Exit status: 0 no breaking change (or the version allows it: major bumped, minor while 0.x, or the
protocol changed); 1 breaking changes without such a bump; 2 bad usage or unreadable input.

Options:
  --quiet      print only breaking changes and the summary
  -h, --help   this help
`;

/**
 * Runs `codegen compat`; returns the exit status.
 *
 * @param args Arguments after `compat`.
 */
export async function runCompat(args: string[]): Promise<number> {
  try {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        allowPositionals: true,
        strict: true,
        options: {
          quiet: { type: "boolean", default: false },
          help: { type: "boolean", short: "h", default: false },
        },
      });
    } catch (error) {
      throw new CompatUsage(
        (error as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, ""),
      );
    }
    if (parsed.values.help) {
      console.log(COMPAT_USAGE);
      return 0;
    }
    if (parsed.positionals.length !== 2) throw new CompatUsage("compat needs two schemas: OLD NEW");
    const [a, b] = await Promise.all(parsed.positionals.map(readSchema));
    const oldSchema = parseSchema(a.text, a.name), newSchema = parseSchema(b.text, b.name);
    const changes = compareSchemas(oldSchema, newSchema);
    const breaking = changes.filter((c) => c.breaking);
    for (const c of changes) if (c.breaking || !parsed.values.quiet) console.log(formatChange(c));
    const versions = `${newSchema.service} ${oldSchema.version} → ${newSchema.version}`;
    const summary = `${breaking.length} breaking, ${
      changes.length - breaking.length
    } compatible (${versions})`;
    if (breaking.length === 0) {
      if (
        changes.length > 0 &&
        compareSemver(String(newSchema.version), String(oldSchema.version)) <= 0
      ) {
        console.log(`${summary}; note: the version was not bumped`);
      } else console.log(summary);
      return 0;
    }
    const bump = bumpAllowsBreaking(oldSchema, newSchema);
    if (bump.allowed) {
      console.log(`${summary}; allowed: ${bump.why}`);
      return 0;
    }
    console.log(`${summary}`);
    console.error(`compat: breaking changes: ${bump.why}`);
    return 1;
  } catch (error) {
    if (error instanceof CompatUsage) {
      console.error(`compat: ${error.message}`);
      return 2;
    }
    console.error(`compat: ${(error as Error)?.message ?? String(error)}`);
    return 2;
  }
}
