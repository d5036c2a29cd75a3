import assert from "node:assert/strict";
import { bumpAllowsBreaking, compareSchemas, formatChange } from "./compat.ts";
import type { Json } from "./model.ts";

const base = (): Json => ({
  service: "demo",
  version: "1.2.0",
  protocol: 0,
  caps: { "a.read": "Read." },
  definitions: {
    Mode: { type: "string", enum: ["a", "b"] },
    Size: {
      type: "object",
      properties: { w: { type: "integer", minimum: 1, maximum: 100 }, h: { type: "integer" } },
      required: ["w"],
      additionalProperties: false,
    },
  },
  commands: {
    load: {
      description: "Load.",
      args: {
        type: "object",
        properties: {
          program: { type: "object" },
          mode: { $ref: "#/definitions/Mode" },
          size: { $ref: "#/definitions/Size" },
          n: { type: "number" },
          note: { type: "string" },
        },
        required: [],
      },
      result: {
        type: "object",
        properties: {
          id: { type: "integer" },
          state: { type: "string" },
          extra: { type: "string" },
        },
        required: ["id", "state"],
      },
      caps: ["a.read"],
    },
    list: {
      description: "List.",
      result: {
        type: "object",
        properties: { items: { type: "array", items: { type: "integer" } } },
      },
    },
  },
  events: {
    tick: {
      description: "Tick.",
      payload: {
        type: "object",
        properties: { usec: { type: "integer" }, tag: { type: "string" } },
        required: ["usec"],
      },
      filters: ["tag"],
    },
    gone: { description: "Gone.", payload: { type: "object", properties: {} } },
  },
});

function lines(a: Json, b: Json): string[] {
  return compareSchemas(a, b).map(formatChange);
}

Deno.test("compat: identical schemas have no changes", () => {
  assert.deepEqual(compareSchemas(base(), base()), []);
});

Deno.test("compat: breaking changes", () => {
  const n = base();
  delete n.commands.list; // removed command
  delete n.events.gone; // removed event
  n.commands.load.args.required = ["program"]; // became required
  n.commands.load.args.properties.count = { type: "integer" };
  n.commands.load.args.required.push("count"); // new required arg
  n.commands.load.args.properties.n = { type: "integer" }; // narrowed number → integer
  n.definitions.Mode.enum = ["a"]; // enum value removed (input)
  n.definitions.Size.properties.w.maximum = 50; // max narrowed
  n.definitions.Size.properties.w.minimum = 2; // min narrowed
  n.commands.load.args.additionalProperties = false; // additionalProperties false added
  delete n.commands.load.result.properties.state; // removed result field
  n.commands.load.result.required = ["id"];
  n.commands.load.result.properties.extra = { type: "integer" }; // result field type changed
  n.events.tick.filters = []; // removed filter
  n.events.tick.payload.required = []; // payload field no longer always present
  n.commands.load.caps = ["a.read", "a.write"]; // new cap required
  n.events.tick.caps = ["a.read"]; // subscribing now needs a cap
  const out = lines(base(), n);
  for (
    const want of [
      "BREAKING commands/list: removed",
      "BREAKING events/gone: removed",
      "BREAKING commands/load/args/program: became required",
      "BREAKING commands/load/args/count: added as a required argument",
      "BREAKING commands/load/args/n: type narrowed number → integer",
      'BREAKING definitions/Mode: enum value "b" removed',
      "BREAKING definitions/Size/w: maximum narrowed 100 → 50",
      "BREAKING definitions/Size/w: minimum narrowed 1 → 2",
      "BREAKING commands/load/args: additionalProperties false added (unknown fields now rejected)",
      "BREAKING commands/load/result/state: removed",
      "BREAKING commands/load/result/extra: type changed string → integer",
      'BREAKING events/tick/filters: filter "tag" removed',
      "BREAKING events/tick/payload/usec: no longer always present",
      'BREAKING commands/load/caps: now requires capability "a.write"',
      'BREAKING events/tick/caps: subscribing now requires capability "a.read"',
    ]
  ) assert.ok(out.includes(want), `${want}\n--- got:\n${out.join("\n")}`);
  assert.ok(out.every((l) => l.startsWith("BREAKING ")), out.join("\n"));
});

Deno.test("compat: compatible changes", () => {
  const n = base();
  n.commands.stats = { description: "Stats.", since: "1.3.0" }; // added command
  n.events.tock = { description: "Tock.", since: "1.3.0" }; // added event
  n.commands.load.args.properties.flag = { type: "boolean" }; // added optional arg
  n.commands.load.result.properties.pc = { type: "integer" }; // added result field
  n.definitions.Mode.enum = ["a", "b", "c"]; // enum value added
  n.commands.load.deprecated = "use stats"; // deprecated
  n.commands.list.description = "Lists."; // description
  n.events.tick.filters = ["tag", "usec"]; // filter added
  n.definitions.Size.properties.w.maximum = 200; // relaxed
  n.commands.load.args.properties.n = { type: ["number", "string"] }; // widened
  const out = lines(base(), n);
  for (
    const want of [
      "compatible commands/stats: added (since 1.3.0)",
      "compatible events/tock: added (since 1.3.0)",
      "compatible commands/load/args/flag: added (optional)",
      "compatible commands/load/result/pc: added",
      'compatible definitions/Mode: enum value "c" added',
      "compatible commands/load: deprecated (use stats)",
      "compatible commands/list: description changed",
      'compatible events/tick/filters: filter "usec" added',
      "compatible definitions/Size/w: maximum relaxed 100 → 200",
      "compatible commands/load/args/n: type widened number → number|string",
    ]
  ) assert.ok(out.includes(want), `${want}\n--- got:\n${out.join("\n")}`);
  assert.ok(out.every((l) => l.startsWith("compatible ")), out.join("\n"));
});

Deno.test("compat: removed definitions", () => {
  const n = base();
  delete n.definitions.Mode; // still referenced by load/args/mode
  const out = lines(base(), n);
  assert.ok(
    out.includes("BREAKING definitions/Mode: removed (used by commands/load/args)"),
    out.join("\n"),
  );
  const m = base();
  m.definitions.Unused = { type: "string" };
  assert.deepEqual(lines(m, base()), ["compatible definitions/Unused: removed (unused)"]);
});

Deno.test("compat: FD fields, const, oneOf variants", () => {
  const o = base(), n = base();
  o.commands.load.args.properties.buf = { "x-fd": true };
  n.commands.load.args.properties.buf = { type: "integer" };
  o.definitions.Op = { oneOf: [{ $ref: "#/definitions/Mode" }, { $ref: "#/definitions/Size" }] };
  n.definitions.Op = { oneOf: [{ $ref: "#/definitions/Mode" }] };
  o.commands.list.args = { type: "object", properties: { op: { $ref: "#/definitions/Op" } } };
  n.commands.list.args = { type: "object", properties: { op: { $ref: "#/definitions/Op" } } };
  const out = lines(o, n);
  assert.ok(
    out.includes("BREAKING commands/load/args/buf: is no longer a file descriptor"),
    out.join("\n"),
  );
  assert.ok(out.includes("BREAKING definitions/Op/oneOf/1: variant Size removed"), out.join("\n"));
});

Deno.test("compat: version bumps that allow breaking changes", () => {
  const v = (version: string, protocol = 0) => ({ version, protocol });
  assert.equal(bumpAllowsBreaking(v("1.2.0"), v("2.0.0")).allowed, true);
  assert.equal(bumpAllowsBreaking(v("1.2.0"), v("1.3.0")).allowed, false);
  assert.equal(bumpAllowsBreaking(v("0.1.0"), v("0.2.0")).allowed, true);
  assert.equal(bumpAllowsBreaking(v("0.1.0"), v("0.1.1")).allowed, false);
  assert.equal(bumpAllowsBreaking(v("0.1.0"), v("0.1.0", 1)).allowed, true);
});

// The CLI, as a child process: exit codes and output.
const DENO = Deno.execPath();
const CLI = new URL("./cli.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

async function compat(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", CLI, "compat", ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  })
    .output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("compat CLI: files, git revisions, exit codes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, s: Json) => {
      await Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(s));
      return `${dir}/${name}`;
    };
    const oldPath = await write("old.json", base());
    const broken = base();
    delete broken.commands.list;
    let r = await compat([oldPath, await write("new.json", broken)]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^BREAKING commands\/list: removed$/m);
    assert.match(r.stdout, /1 breaking, 0 compatible \(demo 1\.2\.0 → 1\.2\.0\)/);
    assert.match(r.stderr, /bump the major version/);
    broken.version = "2.0.0";
    r = await compat([oldPath, await write("bumped.json", broken)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /allowed: the major version was bumped/);
    const added = base();
    added.version = "1.3.0";
    added.commands.stats = { description: "Stats." };
    r = await compat([oldPath, await write("added.json", added)]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^compatible commands\/stats: added$/m);
    // A git revision against the working tree: the bundled schema has not broken itself.
    r = await compat(["git:HEAD:schemas/copperd.json", "schemas/copperd.json"]);
    assert.equal(r.code, 0, r.stderr);
    // Bad input: exit 2, one line.
    for (
      const args of [[oldPath], [oldPath, `${dir}/missing.json`], [
        "git:nosuchrev:schemas/copperd.json",
        oldPath,
      ], [oldPath, oldPath, "--bogus"]]
    ) {
      r = await compat(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /^compat: /);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    r = await compat([oldPath, `${dir}/bad.json`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /invalid JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
