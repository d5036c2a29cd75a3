/**
 * The generator: a pure function from service models to files. No file system, no clock, no
 * environment: the same input always gives the same output (the CLI does the I/O).
 *
 * @module
 */

import { emitClient, emitServer, emitValidators, type TsImports } from "./emit_ts.ts";
import type { ServiceModel } from "./model.ts";
import { fill, type Templates } from "../templates/mod.ts";

export { buildModel, formatIssue, loadService, parseJson, SchemaError, type ServiceModel } from "./model.ts";

/** The generator's version, printed in every stamp. */
export const GENERATOR_VERSION = "0.1.0";

/** A file to write, relative to its target's output folder. */
export interface GeneratedFile {
  /** Target: `ts`, `c` or `docs`. */
  target: Target;
  /** Path relative to the target's output folder. */
  path: string;
  content: string;
}

/** What can be generated. */
export type Target = "ts" | "c" | "docs";

/** An emitter for one extra target (C, docs), registered by the CLI. */
export type Emitter = (m: ServiceModel, ctx: EmitContext) => GeneratedFile[] | Promise<GeneratedFile[]>;

/** Given to emitters. */
export interface EmitContext {
  templates: Templates;
  /** The stamp for a file of this service in a given style. */
  stamp(style: "ts" | "c" | "md"): string;
}

/** Generator options. */
export interface GenerateOptions {
  /** Targets to emit. Default `["ts"]`. */
  targets?: Target[];
  /** Runtime import specifiers for TypeScript output. */
  imports: TsImports;
  /** Template texts (from templates/). */
  templates: Templates;
  /** Emitters for targets other than `ts`. */
  emitters?: Partial<Record<Target, Emitter>>;
}

/**
 * Generates every file for the given services.
 *
 * @param models Validated service models.
 * @param options Targets, imports, templates.
 * @returns Files, sorted by target and path.
 */
export async function generate(models: ServiceModel[], options: GenerateOptions): Promise<GeneratedFile[]> {
  const targets = options.targets ?? ["ts"];
  const files: GeneratedFile[] = [];
  const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  for (const m of [...models].sort((a, b) => byCodePoint(a.name, b.name))) {
    const vars = {
      generator_version: GENERATOR_VERSION,
      source: m.file,
      service: m.name,
      service_version: m.version,
    };
    const ctx: EmitContext = {
      templates: options.templates,
      stamp: (style) => fill(options.templates[`stamp_${style}`], vars).trimEnd(),
    };
    if (targets.includes("ts")) {
      const stamp = ctx.stamp("ts");
      files.push({ target: "ts", path: `${m.name}.ts`, content: await emitClient(m, stamp, options.imports) });
      files.push({ target: "ts", path: `${m.name}_server.ts`, content: emitServer(m, stamp, options.imports) });
      files.push({ target: "ts", path: `${m.name}_validators.ts`, content: emitValidators(m, stamp, options.imports) });
    }
    for (const t of targets) {
      if (t === "ts") continue;
      const emit = options.emitters?.[t];
      if (!emit) throw new TypeError(`No emitter for target "${t}"`);
      files.push(...await emit(m, ctx));
    }
  }
  return files.sort((a, b) => byCodePoint(a.target + "/" + a.path, b.target + "/" + b.path));
}
