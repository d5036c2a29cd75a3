/**
 * TypeScript targets: types (json-schema-to-typescript), the client (`<service>.ts`), the server
 * stub (`<service>_server.ts`) and precompiled Ajv validators (`<service>_validators.ts`).
 *
 * @module
 */

import { Ajv, standaloneCode } from "./_ajv.ts";
import { compile } from "json-schema-to-typescript";
import type { CommandModel, EventModel, Json, ServiceModel } from "./model.ts";
import { wireSchema } from "./model.ts";
import { tsKey } from "./names.ts";
import { Printer } from "./printer.ts";

/** Where generated TypeScript imports the runtime from. */
export interface TsImports {
  /** The public runtime module (`../mod.ts`, or a package name). */
  runtime: string;
  /** The validator helper module. */
  validatorRuntime: string;
}

/** JSDoc lines for `since` / `deprecated`. */
export function lifecycleTags(since?: string, deprecated?: string | boolean): string[] {
  const tags: string[] = [];
  if (since) tags.push(`@since ${since}`);
  if (deprecated) tags.push(deprecated === true ? "@deprecated" : `@deprecated ${deprecated}`);
  return tags;
}

/** Copies a schema for json-schema-to-typescript: `x-fd` → `FdHandle`. */
function typeSchema(node: Json): Json {
  if (node === null || typeof node !== "object") return node;
  if (Array.isArray(node)) return node.map(typeSchema);
  if (node["x-fd"] === true) {
    return { tsType: "FdHandle", ...(node.description ? { description: node.description } : {}) };
  }
  // Draft-07 ignores a $ref's siblings; json-schema-to-typescript would mint a copy (`Program1`).
  if (typeof node.$ref === "string") return { $ref: node.$ref };
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "examples" || k === "example") continue;
    out[k] = typeSchema(v);
  }
  return out;
}

const ROOT = "GeneratedRoot__";

/** Emits the type declarations of one service (definitions, args, results, events). */
export async function emitTypes(m: ServiceModel): Promise<string> {
  const defs: Record<string, Json> = {};
  for (const [k, v] of Object.entries(m.definitions)) defs[k] = typeSchema(v);
  const empty: string[] = [];
  const add = (name: string, schema: Json | undefined, description: string, tags: string[]) => {
    if (!schema) {
      empty.push(name);
      return;
    }
    const text = [schema.description ?? description, ...tags].join("\n\n");
    defs[name] = { ...typeSchema(schema), description: text };
  };
  for (const c of m.commands) {
    const tags = lifecycleTags(c.since, c.deprecated);
    add(c.argsType, c.args, `Arguments of \`${c.name}\`.`, tags);
    add(c.resultType, c.result, `Result of \`${c.name}\`.`, tags);
  }
  for (const e of m.events) {
    add(e.payloadType, e.payload, `Payload of the \`${e.name}\` event: ${e.description}`, lifecycleTags(e.since, e.deprecated));
  }
  const root = { title: ROOT, type: "object", properties: {}, additionalProperties: false, definitions: defs };
  // deno-lint-ignore no-explicit-any
  let ts = await compile(root as any, ROOT, {
    bannerComment: "",
    unreachableDefinitions: true,
    additionalProperties: false,
    strictIndexSignatures: true,
    format: true,
    style: { printWidth: 100, semi: true, singleQuote: false, trailingComma: "all" },
  });
  // Drop the synthetic root and json-schema-to-typescript's provenance notes.
  ts = ts.replace(new RegExp(`export interface ${ROOT} \\{\\}\\n?`), "");
  ts = ts.replace(/\n? \*\n \* This interface was referenced by `GeneratedRoot__`'s JSON-Schema\n \* via the `definition` "[^"]+"\./g, "");
  ts = ts.replace(/\/\*\*\n \* This interface was referenced by `GeneratedRoot__`'s JSON-Schema\n \* via the `definition` "[^"]+"\.\n \*\/\n/g, "");
  const p = new Printer();
  p.raw(ts.trim());
  for (const name of empty) {
    p.line();
    p.doc([name.endsWith("Args") ? "This command takes no arguments." : name.endsWith("Event") ? "This event has no payload fields." : "This command answers `{}`."]);
    p.line(`export type ${name} = Record<string, never>;`);
  }
  return p.toString();
}

function descriptorLiteral(m: ServiceModel, p: Printer): void {
  p.block(`export const ${m.camel}Service: ServiceDescriptor = {`, () => {
    p.line(`name: ${JSON.stringify(m.name)},`);
    p.line(`version: ${JSON.stringify(m.version)},`);
    p.line(`protocol: ${m.protocol},`);
    p.line(`socket: ${JSON.stringify(m.socket).replace(/,"/g, ', "').replace(/":/g, '": ')},`);
    p.line(`fdPassing: ${m.fdPassing},`);
    p.block("commands: {", () => {
      for (const c of m.commands) {
        const parts: string[] = [];
        if (c.caps.length) parts.push(`caps: ${JSON.stringify(c.caps)}`);
        parts.push(`fds: ${c.fds}`);
        if (c.deprecated) parts.push(`deprecated: ${JSON.stringify(c.deprecated)}`);
        p.line(`${tsKey(c.name)}: { ${parts.join(", ")} },`);
      }
    }, "},");
    p.block("events: {", () => {
      for (const e of m.events) {
        const caps = e.caps.length ? `, caps: ${JSON.stringify(e.caps)}` : "";
        p.line(`${tsKey(e.name)}: { filters: ${JSON.stringify(e.filters)}, fds: ${e.fds}${caps} },`);
      }
    }, "},");
  }, "};");
}

function commandDoc(c: CommandModel, withArgs: boolean): (string | undefined)[] {
  return [
    c.description,
    c.caps.length ? `Requires capability ${c.caps.map((x) => `\`${x}\``).join(", ")}.` : undefined,
    c.errors.length ? `Errors: ${c.errors.map((x) => `\`${x}\``).join(", ")}.` : undefined,
    c.argsFds ? "File descriptors in the arguments are borrowed: the caller keeps and closes them." : undefined,
    c.resultFds ? "File descriptors in the result are owned by the caller: close them." : undefined,
    withArgs ? `@param args The arguments (\`${c.argsType}\`).` : undefined,
    "@param options Deadline, abort signal, capability tokens.",
    `@returns The result (\`${c.resultType}\`).`,
    ...lifecycleTags(c.since, c.deprecated),
  ];
}

/**
 * Emits `<service>.ts`: types, the descriptor, the command/event maps and the client class.
 *
 * @param m The service model.
 * @param stamp The file's stamp.
 * @param imports Runtime import specifiers.
 */
export async function emitClient(m: ServiceModel, stamp: string, imports: TsImports): Promise<string> {
  const p = new Printer();
  p.raw(stamp);
  p.line("// deno-lint-ignore-file");
  p.line();
  p.doc([
    `Typed client and types for **${m.title}** (\`${m.name}\` ${m.version}, ports protocol ${m.protocol}).`,
    m.description,
    `Socket: \`${m.socket.path}\` (override with \`${m.socket.env}\`; abstract \`${m.socket.abstract}\`).`,
    "@module",
  ]);
  p.line();
  p.line("import {");
  p.line("  type CallOptions,");
  p.line("  type ConnectOptions,");
  p.line("  connectService,");
  if (m.fdPassing) p.line("  type FdHandle,");
  p.line("  ServiceClient,");
  p.line("  type ServiceDescriptor,");
  p.line(`} from ${JSON.stringify(imports.runtime)};`);
  if (m.fdPassing) p.line(`export type { FdHandle } from ${JSON.stringify(imports.runtime)};`);
  p.line();
  p.raw(await emitTypes(m));
  p.line();
  p.doc([`Commands of \`${m.name}\`: argument and result types by command name.`]);
  p.block(`export type ${m.pascal}Commands = {`, () => {
    for (const c of m.commands) p.line(`${tsKey(c.name)}: { args: ${c.argsType}; result: ${c.resultType} };`);
  }, "};");
  p.line();
  p.doc([`Events of \`${m.name}\`: payload types by event name.`]);
  p.block(`export type ${m.pascal}Events = {`, () => {
    for (const e of m.events) p.line(`${tsKey(e.name)}: ${e.payloadType};`);
  }, "};");
  p.line();
  p.doc([`Runtime descriptor of \`${m.name}\` (from ${m.file}).`]);
  descriptorLiteral(m, p);
  p.line();
  p.doc([
    `Client of \`${m.name}\`. Connect with \`${m.pascal}Client.connect()\`; each command is a method.`,
    `Events: ${m.events.map((e) => `\`${e.name}\``).join(", ") || "none"} (use \`subscribe\`).`,
    "@example Connect, call, subscribe",
    "```ts ignore",
    `const ${m.camel} = await ${m.pascal}Client.connect();`,
    `console.log(await ${m.camel}.ping());`,
    ...(m.events.length ? [`for await (const ev of ${m.camel}.subscribe([${JSON.stringify(m.events[0].name)}])) break;`] : []),
    `await ${m.camel}.close();`,
    "```",
  ]);
  p.block(`export class ${m.pascal}Client extends ServiceClient<${m.pascal}Commands, ${m.pascal}Events> {`, () => {
    p.doc(["The descriptor this client was generated from."]);
    p.line(`static readonly service: ServiceDescriptor = ${m.camel}Service;`);
    p.line();
    p.doc([
      `Connects to \`${m.name}\`: \`address\`, else \`$${m.socket.env}\`, else \`${m.socket.path}\`.`,
      "@param address A socket path or `@abstract` name.",
      "@param options Deadline, capability tokens, platform.",
      "@returns A connected client.",
    ]);
    p.block(`static connect(address?: string, options?: ConnectOptions): Promise<${m.pascal}Client> {`, () => {
      p.line(`return connectService(${m.pascal}Client, address, options);`);
    });
    for (const c of m.commands) {
      p.line();
      const noArgs = !c.args;
      p.doc(commandDoc(c, !noArgs));
      p.line(`// from ${m.file}#/commands/${c.name}`);
      if (noArgs) {
        p.block(`${c.method}(options?: CallOptions): Promise<${c.resultType}> {`, () => {
          p.line(`return this.port.request(${JSON.stringify(c.name)}, undefined, options);`);
        });
      } else {
        const param = c.argsRequired ? `args: ${c.argsType}` : `args: ${c.argsType} = {}`;
        p.block(`${c.method}(${param}, options?: CallOptions): Promise<${c.resultType}> {`, () => {
          p.line(`return this.port.request(${JSON.stringify(c.name)}, args, options);`);
        });
      }
    }
  });
  return p.toString();
}

function handlerDoc(c: CommandModel): (string | undefined)[] {
  return [
    c.description,
    c.argsFds
      ? "Descriptors in `args` are closed when the handler settles unless it calls `keep()` on them."
      : undefined,
    c.resultFds ? "Descriptors in the result are sent, then closed by the runtime." : undefined,
    c.errors.length ? `Throw \`new PortError(code, message)\` with one of: ${c.errors.join(", ")}.` : undefined,
    ...lifecycleTags(c.since, c.deprecated),
  ];
}

/**
 * Emits `<service>_server.ts`: the handler interface, the server class and its descriptor.
 *
 * @param m The service model.
 * @param stamp The file's stamp.
 * @param imports Runtime import specifiers.
 */
export function emitServer(m: ServiceModel, stamp: string, imports: TsImports): string {
  const p = new Printer();
  p.raw(stamp);
  p.line("// deno-lint-ignore-file");
  p.line();
  p.doc([
    `Server stub for **${m.title}** (\`${m.name}\` ${m.version}): implement \`${m.pascal}Handlers\`, then`,
    `\`await ${m.pascal}Server.serve(handlers)\`. Framing, validation, dispatch, \`ping\`, \`describe\`,`,
    "`subscribe`/`unsubscribe`, `cancel` and event fan-out are done by the runtime.",
    "@module",
  ].map((x) => x));
  p.line();
  p.line("import {");
  p.line("  listenService,");
  p.line("  type RequestContext,");
  p.line("  type ServeOptions,");
  p.line("  type ServerDescriptor,");
  p.line("  type ServerOptions,");
  p.line("  ServiceServer,");
  p.line(`} from ${JSON.stringify(imports.runtime)};`);
  const types = [...new Set(m.commands.flatMap((c) => [c.argsType, c.resultType]))];
  p.line("import {");
  p.line(`  type ${m.pascal}Commands,`);
  p.line(`  type ${m.pascal}Events,`);
  p.line(`  ${m.camel}Service,`);
  for (const t of types) p.line(`  type ${t},`);
  p.line(`} from "./${m.name}.ts";`);
  p.line(`import { validators } from "./${m.name}_validators.ts";`);
  p.line();
  p.doc([`The service schema, as \`describe\` answers it (from ${m.file}).`]);
  p.line(`export const ${m.camel}Schema: Record<string, unknown> = ${JSON.stringify(m.schema)};`);
  p.line();
  p.doc([`Server descriptor of \`${m.name}\`: the client descriptor plus the schema and validators.`]);
  p.block(`export const ${m.camel}ServerDescriptor: ServerDescriptor = {`, () => {
    p.line(`...${m.camel}Service,`);
    p.line(`schema: ${m.camel}Schema,`);
    p.block("validateArgs: {", () => {
      for (const c of m.commands) if (c.args) p.line(`${tsKey(c.name)}: validators.${c.method}Args,`);
    }, "},");
    p.block("validateResult: {", () => {
      for (const c of m.commands) if (c.result) p.line(`${tsKey(c.name)}: validators.${c.method}Result,`);
    }, "},");
    p.block("validateEvent: {", () => {
      for (const e of m.events) if (e.payload) p.line(`${tsKey(e.name)}: validators.${eventKey(e)},`);
    }, "},");
  }, "};");
  p.line();
  p.doc([`What a \`${m.name}\` implementation provides: one handler per command.`]);
  p.block(`export interface ${m.pascal}Handlers {`, () => {
    m.commands.forEach((c, i) => {
      if (i > 0) p.line();
      p.doc(handlerDoc(c));
      p.line(`${tsKey(c.name)}(args: ${c.argsType}, ctx: RequestContext): ${c.resultType} | Promise<${c.resultType}>;`);
    });
  });
  p.line();
  p.doc([
    `Serves \`${m.name}\`. \`emit(event, payload)\` is typed by \`${m.pascal}Events\`.`,
    "@example Serve on a temporary socket",
    "```ts ignore",
    `const server = await ${m.pascal}Server.serve(handlers, { address: "/tmp/${m.name}.sock" });`,
    "await server.close();",
    "```",
  ]);
  p.block(`export class ${m.pascal}Server extends ServiceServer<${m.pascal}Commands, ${m.pascal}Events> {`, () => {
    p.doc([
      "@param handlers One function per command.",
      "@param options Limits, capabilities, policies.",
    ]);
    p.block(`constructor(handlers: ${m.pascal}Handlers, options?: ServerOptions) {`, () => {
      p.line(`super(${m.camel}ServerDescriptor, handlers, options);`);
    });
    p.line();
    p.doc([
      `Creates the server and listens on \`options.address\`, else \`$${m.socket.env}\`, else \`${m.socket.path}\`.`,
      "@param handlers One function per command.",
      "@param options Address(es), socket mode, limits.",
      "@returns The listening server.",
    ]);
    p.block(`static serve(handlers: ${m.pascal}Handlers, options?: ServeOptions): Promise<${m.pascal}Server> {`, () => {
      p.line(`return listenService(new ${m.pascal}Server(handlers, options), ${m.camel}ServerDescriptor, options);`);
    });
  });
  return p.toString();
}

function eventKey(e: EventModel): string {
  return `${e.pascal[0].toLowerCase()}${e.pascal.slice(1)}Event`;
}

/**
 * Emits `<service>_validators.ts`: Ajv validators compiled at generation time (no Ajv at run time).
 *
 * @param m The service model.
 * @param stamp The file's stamp.
 * @param imports Runtime import specifiers.
 */
export function emitValidators(m: ServiceModel, stamp: string, imports: TsImports): string {
  const ajv = new Ajv({ code: { source: true, esm: true, lines: false }, strict: false, allErrors: false });
  ajv.addKeyword("x-fd");
  const defs: Record<string, Json> = {};
  for (const [k, v] of Object.entries(m.definitions)) defs[k] = wireSchema(v);
  const targets: Record<string, string> = {};
  const strip = (s: Json) => {
    const { examples: _e, example: _x, since: _s, ...rest } = s;
    return rest;
  };
  for (const c of m.commands) {
    if (c.args) {
      defs[`__${c.argsType}`] = strip(wireSchema(c.args));
      targets[`raw_${c.method}Args`] = `svc#/definitions/__${c.argsType}`;
    }
    if (c.result) {
      defs[`__${c.resultType}`] = strip(wireSchema(c.result));
      targets[`raw_${c.method}Result`] = `svc#/definitions/__${c.resultType}`;
    }
  }
  for (const e of m.events) {
    if (e.payload) {
      defs[`__${e.payloadType}`] = strip(wireSchema(e.payload));
      targets[`raw_${eventKey(e)}`] = `svc#/definitions/__${e.payloadType}`;
    }
  }
  ajv.addSchema({ $id: "svc", definitions: defs });
  let code: string = standaloneCode(ajv, targets);
  code = code.replace(/^"use strict";/, "");
  const helpers = new Set<string>();
  code = code.replace(/require\("ajv\/dist\/runtime\/([a-z0-9]+)"\)\.default/gi, (_all, name: string) => {
    if (name !== "ucs2length" && name !== "equal") {
      throw new Error(`${m.file}: the schema needs Ajv runtime helper "${name}", which the generator does not support`);
    }
    helpers.add(name);
    return name;
  });
  const p = new Printer();
  p.raw(stamp);
  p.line("// deno-lint-ignore-file");
  p.line("// @ts-nocheck Precompiled by Ajv (standalone); checked by the tests, not by the type-checker.");
  p.line();
  p.line(`import { ${[...helpers, "issueOf"].sort().join(", ")} } from ${JSON.stringify(imports.validatorRuntime)};`);
  p.line();
  // Ajv's output is one long line; split statements for readable diffs.
  p.raw(code.replace(/;(const |function |export )/g, ";\n$1"));
  p.line();
  p.doc([`Validators of \`${m.name}\`, returning the first issue or \`undefined\`.`]);
  p.block("export const validators = {", () => {
    for (const key of Object.keys(targets)) p.line(`${key.slice(4)}: issueOf(${key}),`);
  }, "};");
  return p.toString();
}
