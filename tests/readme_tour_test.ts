// The README's five-minute tour must work as written: its schema is extracted from README.md,
// generated into a temporary folder with the CLI, served and called.
import assert from "node:assert/strict";

Deno.test("README tour: schema → generate → serve → call → event", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const m = /1\. \*\*Write a schema\*\*[\s\S]*?```json\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, "the tour's schema block is in README.md");
  const schema = m[1].split("\n").map((l) => l.replace(/^ {3}/, "")).join("\n");
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/my/schemas`, { recursive: true });
    await Deno.writeTextFile(`${dir}/my/schemas/thermo.json`, schema);
    const gen = await new Deno.Command(Deno.execPath(), {
      args: [
        "run", "-A", new URL("../codegen/cli.ts", import.meta.url).pathname, "generate",
        "--schemas", "my/schemas", "--out-ts", "my/gen/ts", "--out-c", "my/gen/c", "--out-docs", "my/gen/docs",
      ],
      cwd: dir,
      stderr: "piped",
    }).output();
    assert.equal(gen.code, 0, new TextDecoder().decode(gen.stderr));
    for (const f of ["ts/thermo.ts", "ts/thermo_server.ts", "c/thermo.h", "c/thermo.c", "docs/thermo.md"]) {
      await Deno.stat(`${dir}/my/gen/${f}`);
    }
    await Deno.writeTextFile(
      `${dir}/run.ts`,
      `import { ThermoServer } from "./my/gen/ts/thermo_server.ts";
import { ThermoClient } from "./my/gen/ts/thermo.ts";
const server = await ThermoServer.serve({ read: ({ sensor }) => ({ celsius: 21.5 + sensor }) }, { address: "${dir}/thermo.sock" });
const thermo = await ThermoClient.connect("${dir}/thermo.sock");
const sub = thermo.subscribe(["alarm"], { sensor: 2 });
await sub.ready;
console.log(JSON.stringify(await thermo.read({ sensor: 1 })));
server.emit("alarm", { sensor: 1 });
server.emit("alarm", { sensor: 2 });
for await (const ev of sub) { console.log(JSON.stringify(ev)); break; }
await thermo.close();
await server.close();
`,
    );
    const run = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", "run.ts"], cwd: dir, stdout: "piped", stderr: "piped" })
      .output();
    const out = new TextDecoder().decode(run.stdout);
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.deepEqual(out.trim().split("\n"), ['{"celsius":22.5}', '{"event":"alarm","sub":1,"sensor":2}']);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
