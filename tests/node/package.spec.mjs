/**
 * The package test: `npm pack` dist/npm, install the tarball into a scratch project
 * (`npm install --no-audit --no-fund <tarball>`; koffi comes from the registry or its cache), then
 * - run a plain .mjs (tests/node/package/consumer.mjs) that imports `@copperline/ports` by name
 *   and talks to the simulated copperd and compositord served by Deno (sdk/ts/sim/cli.ts all);
 * - type-check a .ts (tests/node/package/consumer.ts) with tsc, module/moduleResolution nodenext.
 *
 * Also runs the installed `portctl` bin and examples/node/client.mjs against the same simulated
 * services.
 *
 * Run under real Node 20: node --test tests/node/*.spec.mjs (after npm/build.mjs).
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pack } from "../../npm/build.mjs";
import { DENO, ROOT, run, spawnReady, tempDir } from "./helpers.mjs";

describe("@copperline/ports installed from its npm pack tarball", () => {
  let tmp, project, sims, tarball;
  before(async () => {
    tmp = tempDir("clp-npm-scratch-");
    project = join(tmp.dir, "project");
    const simDir = join(tmp.dir, "sim");
    execFileSync("mkdir", ["-p", project, simDir]);
    const simsReady = spawnReady(DENO, [
      "run",
      "-A",
      join(ROOT, "sdk/ts/sim/cli.ts"),
      "all",
      "--dir",
      simDir,
    ], {
      marker: (out) => out.includes("serving copperd ") && out.includes("serving compositord "),
    });
    tarball = pack(tmp.dir);
    writeFileSync(
      join(project, "package.json"),
      JSON.stringify({ name: "scratch", private: true, type: "module" }),
    );
    execFileSync("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
      cwd: project,
      stdio: "inherit",
    });
    for (const f of ["consumer.mjs", "consumer.ts", "tsconfig.json"]) {
      copyFileSync(join(ROOT, "tests/node/package", f), join(project, f));
    }
    sims = await simsReady;
    process.env.CLP_SIM_DIR = simDir;
  });
  after(async () => {
    await sims?.stop();
    tmp?.cleanup();
  });

  test("the tarball holds the package, its types and no tests", () => {
    const files = execFileSync("tar", ["tzf", tarball], { encoding: "utf8" }).trim().split("\n");
    const installed = join(project, "node_modules/@copperline/ports");
    const pkg = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
    assert.equal(pkg.name, "@copperline/ports");
    assert.equal(pkg.version, "0.1.0");
    assert.equal(pkg.type, "module");
    assert.equal(pkg.license, "MIT OR Apache-2.0");
    assert.equal(pkg.engines.node, ">=20");
    assert.equal(pkg.dependencies.koffi, "3.3.4");
    assert.equal(pkg.bin.portctl, "./bin/portctl.js");
    for (
      const key of [
        ".",
        "./node",
        "./validator-runtime",
        "./services/copperd",
        "./services/copperd/server",
        "./services/compat-uae",
      ]
    ) {
      const e = pkg.exports[key];
      assert.ok(e?.types && e?.default, `exports["${key}"]`);
      assert.ok(
        existsSync(join(installed, e.types)) && existsSync(join(installed, e.default)),
        `files of exports["${key}"]`,
      );
    }
    assert.ok(
      files.includes("package/runtime.js") && files.includes("package/node/mod.js"),
      "runtime.js beside node/mod.js",
    );
    assert.ok(files.includes("package/README.md"));
    assert.deepEqual(files.filter((f) => /test|testing|bench|fixture|\/deno\//.test(f)), []);
    assert.ok(existsSync(join(project, "node_modules/koffi/package.json")), "koffi installed");
  });

  test("a plain .mjs imports it by name and drives Deno-served simulated services", async () => {
    const dir = process.env.CLP_SIM_DIR;
    const r = await run(process.execPath, [join(project, "consumer.mjs")], {
      cwd: project,
      env: {
        COPPERD_SOCKET: join(dir, "copperd.sock"),
        COMPOSITORD_SOCKET: join(dir, "compositord.sock"),
      },
    });
    assert.equal(r.code, 0, `consumer.mjs failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(
      r.stdout,
      /^ping copperd \S+\nload \d+\nstart\nirq 2\nerror NOT_FOUND\nbind_dmabuf 256\ndone\n$/,
    );
  });

  test("examples/node/client.mjs runs against the simulated copperd", async () => {
    const sock = join(process.env.CLP_SIM_DIR, "copperd.sock");
    for (const [args, env] of [[[sock], {}], [[], { COPPERD_SOCKET: sock }]]) {
      const r = await run(process.execPath, [join(ROOT, "examples/node/client.mjs"), ...args], {
        env,
      });
      assert.equal(r.code, 0, `example failed:\n${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.trim().split("\n");
      assert.match(lines[0], /^ping → copperd \S+ \(protocol 0\)$/);
      assert.match(lines[1], /^load → program \d+$/);
      assert.equal(lines[2], "start → running");
      assert.equal(
        lines.filter((l) =>
          /^irq {3}→ \{"event":"irq","sub":\d+,"tag":"tick","prog":\d+,"usec":\d+\}$/.test(l)
        ).length,
        3,
      );
      assert.equal(lines[6], "stop  → stopped");
      assert.equal(lines[7], "start 9999 → NOT_FOUND: No program 9999");
    }
  });

  test("the portctl bin runs on Node: typed call, error exit, a descriptor by --fd", async () => {
    const dir = process.env.CLP_SIM_DIR;
    const portctl = join(project, "node_modules/.bin/portctl");
    const env = {
      COPPERD_SOCKET: join(dir, "copperd.sock"),
      COMPOSITORD_SOCKET: join(dir, "compositord.sock"),
    };
    let r = await run(portctl, ["copperd", "ping"], { cwd: project, env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).name, "copperd");
    r = await run(portctl, ["copperd", "status", "id=99999"], { cwd: project, env });
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "NOT_FOUND: No program 99999");
    const layer = JSON.parse(
      (await run(portctl, ["compositord", "create_layer"], { cwd: project, env })).stdout,
    );
    writeFileSync(join(project, "frame.raw"), Buffer.alloc(16, 9));
    r = await run(portctl, [
      "compositord",
      "bind_dmabuf",
      `id=${layer.id}`,
      "w=2",
      "h=2",
      "format=RGBA8",
      "stride=8",
      "--fd",
      join(project, "frame.raw"),
    ], { cwd: project, env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).bytes, 16);
  });

  test("a .ts file type-checks against it with tsc (nodenext)", async () => {
    const r = await run(join(ROOT, "node_modules/.bin/tsc"), [
      "-p",
      join(project, "tsconfig.json"),
      "--typeRoots",
      join(ROOT, "node_modules/@types"),
    ], { cwd: project });
    assert.equal(r.code, 0, `tsc failed:\n${r.stdout}\n${r.stderr}`);
    // The types are strict: without its @ts-expect-error lines, the same file has the two errors.
    const bad = readFileSync(join(project, "consumer.ts"), "utf8").replace(
      /^.*@ts-expect-error.*\n/gm,
      "",
    );
    writeFileSync(join(project, "bad.ts"), bad);
    writeFileSync(
      join(project, "tsconfig.bad.json"),
      JSON.stringify({ extends: "./tsconfig.json", files: ["bad.ts"] }),
    );
    const r2 = await run(join(ROOT, "node_modules/.bin/tsc"), [
      "-p",
      join(project, "tsconfig.bad.json"),
      "--typeRoots",
      join(ROOT, "node_modules/@types"),
    ], { cwd: project });
    assert.notEqual(r2.code, 0);
    assert.match(r2.stdout, /TS2322: Type 'string' is not assignable to type 'number'/);
    assert.match(r2.stdout, /TS2339: Property 'launch' does not exist on type 'CopperdClient'/);
  });
});
