/**
 * The generator's command line: reads schemas, calls the pure `generate`, writes (or checks) files.
 *
 * ```sh
 * deno run -A codegen/cli.ts generate                       # bundled schemas → committed outputs
 * deno run -A codegen/cli.ts generate --check               # fail on drift
 * deno run -A codegen/cli.ts generate --schemas my/schemas --out-ts gen/ts --out-c gen/c --targets ts,c
 * deno run -A codegen/cli.ts validate my/service.json       # schema errors as file#/pointer: message
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { dirname, join, relative, resolve } from "node:path";
import { fromFileUrl } from "./_paths.ts";
import { formatIssue, generate, type GeneratedFile, loadService, SchemaError, type ServiceModel, type Target } from "./mod.ts";
import { emitters } from "./targets.ts";
import { readTemplates } from "../templates/mod.ts";

const ROOT = resolve(fromFileUrl(new URL("..", import.meta.url)));

const USAGE = `Usage: codegen <command> [options]

Commands:
  generate   Generate code from service schemas (default: the bundled schemas/)
  validate   Check schema files; print problems as file#/pointer: message
  compat     Compare a schema with an earlier version (see --help of compat)

generate options:
  --schemas PATH    A schema file or a folder of *.json schemas (repeatable; default: schemas/)
  --out-ts DIR      TypeScript output folder (default: sdk/ts/services)
  --out-c DIR       C output folder (default: sdk/c/services)
  --out-docs DIR    Markdown output folder (default: docs/services)
  --targets LIST    Comma-separated: ${["ts", ...Object.keys(emitters)].join(",")} (default: all)
  --runtime SPEC    Where generated TypeScript imports the runtime from: a path to sdk/ts or a
                    package name (default: the relative path to this repository's sdk/ts)
  --check           Write nothing; exit 1 if any generated file differs from what is on disk
  -h, --help        Show this help
`;

/** Lists the schema files of a path (a file, or every *.json in a folder, sorted). */
async function schemaFiles(path: string): Promise<string[]> {
  const info = await Deno.stat(path);
  if (info.isFile) return [path];
  const out: string[] = [];
  for await (const e of Deno.readDir(path)) {
    if (e.isFile && e.name.endsWith(".json")) out.push(join(path, e.name));
  }
  return out.sort();
}

/** Loads and models schema files; collects every problem before failing. */
export async function loadModels(paths: string[]): Promise<ServiceModel[]> {
  const models: ServiceModel[] = [];
  const issues: SchemaError["issues"] = [];
  const names = new Map<string, string>();
  for (const p of paths) {
    for (const file of await schemaFiles(p)) {
      const shown = relative(Deno.cwd(), file) || file;
      try {
        const m = loadService(shown, await Deno.readTextFile(file));
        const prev = names.get(m.name);
        if (prev) issues.push({ file: shown, pointer: "/service", message: `service "${m.name}" is also defined in ${prev}` });
        names.set(m.name, shown);
        models.push(m);
      } catch (error) {
        if (error instanceof SchemaError) issues.push(...error.issues);
        else throw error;
      }
    }
  }
  if (issues.length > 0) throw new SchemaError(issues);
  return models;
}

function runtimeImports(spec: string | undefined, outTs: string): { runtime: string; validatorRuntime: string } {
  if (spec && !spec.startsWith(".") && !spec.startsWith("/")) {
    return { runtime: spec, validatorRuntime: `${spec}/validator-runtime` };
  }
  const sdk = spec ? resolve(spec) : join(ROOT, "sdk/ts");
  let rel = relative(resolve(outTs), sdk) || ".";
  if (!rel.startsWith(".")) rel = "./" + rel;
  return { runtime: `${rel}/mod.ts`, validatorRuntime: `${rel}/core/_validator_runtime.ts` };
}

async function readOr(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
}

async function runGenerate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      schemas: { type: "string", multiple: true },
      "out-ts": { type: "string" },
      "out-c": { type: "string" },
      "out-docs": { type: "string" },
      targets: { type: "string" },
      runtime: { type: "string" },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const bundled = !values.schemas;
  const schemaPaths = values.schemas ?? [join(ROOT, "schemas")];
  const outs: Record<Target, string> = {
    ts: values["out-ts"] ?? join(ROOT, "sdk/ts/services"),
    c: values["out-c"] ?? join(ROOT, "sdk/c/services"),
    docs: values["out-docs"] ?? join(ROOT, "docs/services"),
  };
  const available = ["ts", ...Object.keys(emitters)] as Target[];
  const targets = (values.targets ? values.targets.split(",").map((s) => s.trim()) : available) as Target[];
  for (const t of targets) {
    if (!available.includes(t)) throw new UsageError(`Unknown target "${t}" (expected one of ${available.join(", ")})`);
  }
  const models = await loadModels(schemaPaths);
  if (models.length === 0) throw new UsageError(`No schemas found in ${schemaPaths.join(", ")}`);
  if (bundled) {
    // Stamps name schema files relative to the repository, whatever the working directory.
    for (const m of models) m.file = relative(ROOT, resolve(m.file));
  }
  const files = await generate(models, {
    targets,
    imports: runtimeImports(values.runtime, outs.ts),
    templates: await readTemplates(new URL("../templates/", import.meta.url)),
    emitters,
  });
  return values.check ? await check(files, outs, targets) : await write(files, outs);
}

async function write(files: GeneratedFile[], outs: Record<Target, string>): Promise<number> {
  for (const f of files) {
    const path = join(outs[f.target], f.path);
    await Deno.mkdir(dirname(path), { recursive: true });
    if (await readOr(path) !== f.content) await Deno.writeTextFile(path, f.content);
  }
  console.error(`codegen: ${files.length} files up to date`);
  return 0;
}

async function check(files: GeneratedFile[], outs: Record<Target, string>, targets: Target[]): Promise<number> {
  const problems: string[] = [];
  const expected = new Set(files.map((f) => resolve(join(outs[f.target], f.path))));
  for (const f of files) {
    const path = join(outs[f.target], f.path);
    const have = await readOr(path);
    if (have === undefined) problems.push(`missing: ${relative(Deno.cwd(), path)}`);
    else if (have !== f.content) {
      const a = have.split("\n"), b = f.content.split("\n");
      let line = 0;
      while (line < a.length && a[line] === b[line]) line++;
      problems.push(`differs: ${relative(Deno.cwd(), path)} (first at line ${line + 1})`);
    }
  }
  for (const t of targets) {
    try {
      for await (const e of Deno.readDir(outs[t])) {
        const path = resolve(join(outs[t], e.name));
        if (!e.isFile || expected.has(path)) continue;
        const text = await readOr(path);
        if (text && text.slice(0, 300).includes("@generated by copperline-ports codegen")) {
          problems.push(`stale: ${relative(Deno.cwd(), path)} (no schema produces it)`);
        }
      }
    } catch { /* folder absent: reported as missing files */ }
  }
  if (problems.length > 0) {
    console.error(`codegen: generated files are out of date (run \`deno task gen\`):\n  ${problems.join("\n  ")}`);
    return 1;
  }
  console.error(`codegen: ${files.length} generated files match their schemas`);
  return 0;
}

async function runValidate(args: string[]): Promise<number> {
  if (args.length === 0) throw new UsageError("validate needs at least one schema file or folder");
  const models = await loadModels(args);
  for (const m of models) console.log(`${m.file}: ok (${m.name} ${m.version}, ${m.commands.length} commands, ${m.events.length} events)`);
  return 0;
}

class UsageError extends Error {}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "generate":
        return await runGenerate(rest);
      case "validate":
        return await runValidate(rest);
      case "compat": {
        const { runCompat } = await import("./compat.ts");
        return await runCompat(rest);
      }
      case undefined:
      case "-h":
      case "--help":
      case "help":
        console.log(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`Unknown command "${cmd}"`);
    }
  } catch (error) {
    if (error instanceof SchemaError) {
      for (const i of error.issues) console.error(formatIssue(i));
      return 1;
    }
    if (error instanceof UsageError || (error as Error)?.name === "TypeError" && String((error as Error).message).startsWith("Unknown option")) {
      console.error(`codegen: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if ((error as { code?: string })?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" || (error as { code?: string })?.code?.startsWith?.("ERR_PARSE_ARGS")) {
      console.error(`codegen: ${(error as Error).message}`);
      return 2;
    }
    if (error instanceof Deno.errors.NotFound) {
      console.error(`codegen: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
export { formatIssue };
