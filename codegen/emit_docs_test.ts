import assert from "node:assert/strict";
import { buildModel } from "./model.ts";
import { emitDocs, mdType } from "./emit_docs.ts";
import type { EmitContext } from "./mod.ts";
import { emitters } from "./targets.ts";
import { emitClient } from "./emit_ts.ts";

const ctx: EmitContext = { templates: {}, stamp: () => "<!-- @generated stamp -->" };

const schema = {
  service: "demo-svc",
  version: "0.2.0",
  protocol: 0,
  caps: { "things.write": "Write things." },
  errors: { BAD_THING: "The thing is bad." },
  definitions: {
    Size: {
      description: "A size.",
      type: "object",
      properties: {
        w: { description: "Width.", type: "integer", minimum: 1 },
        h: { type: "integer" },
      },
      required: ["w"],
      additionalProperties: false,
    },
    Mode: { description: "A mode.", type: "string", enum: ["a", "b|c"] },
  },
  commands: {
    put: {
      description: "Puts a thing. More text.",
      args: {
        type: "object",
        properties: {
          name: { description: "Its name.", type: "string" },
          size: { description: "Its size.", $ref: "#/definitions/Size" },
          buf: { description: "The buffer.", "x-fd": true },
          mode: { $ref: "#/definitions/Mode", description: "Mode.", deprecated: "use size" },
          extra: { description: "Newer.", type: "boolean", since: "0.2.0" },
        },
        required: ["name", "buf"],
        additionalProperties: false,
      },
      result: { type: "object", properties: { id: { type: "integer" } }, required: ["id"] },
      caps: ["things.write"],
      errors: ["BAD_ARG", "BAD_THING", "BAD_FD"],
      since: "0.1.0",
      examples: [{ args: { name: "x", size: { w: 2 }, buf: { fd_index: 0 } }, result: { id: 7 } }],
    },
    old: {
      description: "Old command.",
      deprecated: "use put",
      since: "0.1.0",
      result: { type: "object", properties: {} },
    },
  },
  events: {
    changed: {
      description: "Something changed.",
      payload: {
        type: "object",
        properties: { id: { type: "integer" }, what: { type: "string" } },
        required: ["id"],
      },
      filters: ["id"],
      since: "0.2.0",
      example: { id: 3, what: "size" },
    },
    secret: { description: "Only for writers.", caps: ["things.write"] },
  },
};

Deno.test("docs: one Markdown file per service, with every section", () => {
  const [file, ...rest] = emitDocs(buildModel("demo.json", structuredClone(schema)), ctx);
  assert.equal(rest.length, 0);
  assert.equal(file.target, "docs");
  assert.equal(file.path, "demo-svc.md");
  const md = file.content;
  assert.ok(md.startsWith("<!-- @generated stamp -->\n"));
  for (
    const s of [
      "# demo-svc",
      "## Commands",
      "## Events",
      "## Capabilities",
      "## Errors",
      "## Command reference",
      "### `put`",
      "## Event reference",
      "### Event `changed`",
      "### Type `Size`",
      "| `BAD_THING` | The thing is bad. |",
      "| `BAD_FD` |",
      "- **Caps:** `things.write`",
      "- **Errors:** `BAD_ARG`, `BAD_THING`, `BAD_FD`",
      "- **Filters:** `id`",
    ]
  ) assert.ok(md.includes(s), s);
  assert.ok(md.endsWith("\n") && !md.endsWith("\n\n"));
});

Deno.test("docs: argument tables with dotted names, FDs, required, since/deprecated", () => {
  const md = emitDocs(buildModel("demo.json", structuredClone(schema)), ctx)[0].content;
  assert.ok(md.includes("| `name` | string | yes | Its name. |"));
  assert.ok(md.includes("| `size` | [Size](#type-size) | no | Its size. |"));
  assert.ok(
    md.includes("| `size.w` | integer (≥ 1) | yes | Width. |"),
    "nested fields via dotted names",
  );
  assert.ok(
    md.includes("| `buf` | FD (SCM_RIGHTS, `{fd_index}` on the wire) | yes | The buffer. |"),
  );
  assert.ok(md.includes("| `mode` | [Mode](#type-mode) | no | Mode. **Deprecated:** use size |"));
  assert.ok(md.includes("| `extra` | boolean | no | Newer. Since 0.2.0. |"));
  assert.ok(md.includes('`"a"` \\| `"b|c"`'), "pipes escaped in tables");
  assert.ok(md.includes("> **Deprecated:** use put"));
  assert.ok(md.includes("[`old`](#old) **(deprecated)**"));
  assert.ok(md.includes("- **File descriptors:** in the arguments"));
});

Deno.test("docs: wire examples are valid JSON lines built from the schema's examples", () => {
  const md = emitDocs(buildModel("demo.json", structuredClone(schema)), ctx)[0].content;
  const blocks = [...md.matchAll(/```json\n([\s\S]*?)```/g)].map((m) =>
    m[1].trim().split("\n").map((l) => JSON.parse(l))
  );
  assert.deepEqual(blocks[0], [
    { id: 1, cmd: "put", fds: 1, args: { name: "x", size: { w: 2 }, buf: { fd_index: 0 } } },
    { ok: true, id: 1, result: { id: 7 } },
  ]);
  assert.deepEqual(
    blocks[1],
    [{ id: 1, cmd: "old" }],
    "a command without examples still shows its request",
  );
  assert.deepEqual(blocks[2], [
    { id: 1, cmd: "subscribe", args: { events: ["changed"], id: 3 } },
    { ok: true, id: 1, result: { sub: 1, events: ["changed"] } },
    { event: "changed", sub: 1, id: 3, what: "size" },
  ]);
  assert.ok(md.includes("portctl demo-svc put name=x 'size:={\"w\":2}' --fd buf=FILE"));
  assert.ok(md.includes("portctl demo-svc subscribe events=changed id=3 --count 1"));
});

Deno.test("docs: type names", () => {
  assert.equal(
    mdType({ type: "array", items: { type: "string" }, maxItems: 3 }),
    "array of string (0..3 items)",
  );
  assert.equal(
    mdType({ oneOf: [{ type: "number" }, { $ref: "#/definitions/X" }] }),
    "number \\| [X](#type-x)",
  );
  assert.equal(mdType({ const: "WAIT" }), '`"WAIT"`');
  assert.equal(mdType(undefined), "any");
});

Deno.test("docs: registered as the docs target", () => {
  assert.equal(emitters.docs, emitDocs);
});

Deno.test("docs and descriptor: an event's caps", async () => {
  const m = buildModel("demo.json", schema);
  assert.deepEqual(m.events.find((e) => e.name === "secret")?.caps, ["things.write"]);
  assert.deepEqual(m.events.find((e) => e.name === "changed")?.caps, []);
  const md = emitDocs(m, ctx)[0].content;
  assert.ok(md.includes("- **Caps:** `things.write` (checked at `subscribe`)"), md);
  const ts = await emitClient(m, "// stamp", { runtime: "./mod.ts", validatorRuntime: "./v.ts" });
  assert.ok(ts.includes('secret: { filters: [], fds: false, caps: ["things.write"] },'), ts);
  assert.ok(ts.includes("changed: { filters: [\"id\"], fds: false },"), ts);
});
