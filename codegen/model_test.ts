import assert from "node:assert/strict";
import { buildModel, formatIssue, loadService, SchemaError } from "./model.ts";

const bad = new URL("../tests/bad_schemas/", import.meta.url);

Deno.test("every bad schema fails with exactly its expected file#/pointer messages (CLI, no stack trace)", async () => {
  const names = [...Deno.readDirSync(bad)].filter((e) => e.name.endsWith(".json")).map((e) => e.name).sort();
  assert.ok(names.length >= 4);
  for (const name of names) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "codegen/cli.ts", "validate", `tests/bad_schemas/${name}`],
      cwd: new URL("..", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    const expected = await Deno.readTextFile(new URL(name.replace(".json", ".expected"), bad));
    assert.equal(out.code, 1, name);
    assert.equal(stderr, expected, name);
    assert.doesNotMatch(stderr, /\s+at\s/, "no stack trace");
  }
});

Deno.test("loadService reports JSON syntax errors with line and column", () => {
  const err = (() => {
    try {
      loadService("x.json", '{\n  "service": "x",\n  oops\n}');
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof SchemaError);
  assert.match(formatIssue(err.issues[0]), /^x\.json:3:3: Invalid JSON/);
});

Deno.test("the model names things mechanically and finds descriptors", () => {
  const m = buildModel("t.json", {
    service: "compat-uae",
    version: "1.0.0",
    protocol: 0,
    commands: {
      i2c_xfer: { description: "d", args: { type: "object", properties: { fd: { "x-fd": true } } } },
      close: { description: "collides with the client's close()" },
    },
    events: { audio_xrun: { description: "e", payload: { type: "object", properties: { n: { type: "integer" } } } } },
  });
  assert.equal(m.pascal, "CompatUae");
  assert.equal(m.c, "compat_uae");
  assert.equal(m.socket.env, "COMPAT_UAE_SOCKET");
  assert.equal(m.socket.path, "/run/copperline/compat-uae.sock");
  assert.equal(m.commands[0].argsType, "I2CXferArgs");
  assert.equal(m.commands[0].method, "i2cXfer");
  assert.equal(m.commands[0].argsFds, true);
  assert.equal(m.commands[1].method, "closeCommand");
  assert.equal(m.events[0].payloadType, "AudioXrunEvent");
  assert.equal(m.fdPassing, true);
});

Deno.test("a definition that collides with a generated type name is refused", () => {
  assert.throws(
    () =>
      buildModel("c.json", {
        service: "c",
        version: "1.0.0",
        protocol: 0,
        definitions: { GoArgs: { type: "string" } },
        commands: { go: { description: "d", args: { type: "object" } } },
      }),
    (e: SchemaError) => e.issues.some((i) => formatIssue(i) === 'c.json#/commands/go: generated type name "GoArgs" collides with definition "GoArgs"'),
  );
});

Deno.test("every bundled schema models cleanly", async () => {
  for (const e of Deno.readDirSync(new URL("../schemas/", import.meta.url))) {
    if (!e.name.endsWith(".json")) continue;
    const m = loadService(e.name, await Deno.readTextFile(new URL(`../schemas/${e.name}`, import.meta.url)));
    assert.ok(m.commands.length > 0, e.name);
  }
});
