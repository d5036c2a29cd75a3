#!/usr/bin/env node
/**
 * Builds the npm package `@copperline/ports` into dist/npm/ with the TypeScript compiler:
 *
 *   node npm/build.mjs            build (stage → tsc → package.json, README)
 *   node npm/build.mjs --pack     build, then `npm pack` into dist/ (prints the tarball path)
 *
 * 1. Stages sdk/ts into build/npm-src/: mod.ts, runtime.ts, core/, node/ (the Node platform) and
 *    services/ (the generated clients and servers), without tests, test helpers, benches and the
 *    Deno adapter; adds the package entry points from npm/src/.
 * 2. Compiles them with npm/tsconfig.json (ESM + .d.ts, same layout: runtime.js lazily imports
 *    ./node/mod.js).
 * 3. Writes package.json (exports map: ".", "./node", "./validator-runtime", and
 *    "./services/<svc>" + "./services/<svc>/server" per bundled service; bin `portctl`, from
 *    tools/portctl.ts, which runs on Node as well) and the package README.
 */

import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SDK = join(ROOT, "sdk/ts");
const STAGE = join(ROOT, "build/npm-src");
const OUT = join(ROOT, "dist/npm");
const NAME = "@copperline/ports";
const VERSION = "0.1.0";
const KOFFI = "3.3.4";

/** Files of sdk/ts that are not part of the package. */
const excluded = (rel) =>
  /(_test|\.test)\.ts$/.test(rel) ||
  rel === "node/testing.ts" ||
  rel === "node/ffi/bench_ffi.ts" ||
  rel === "node/ffi/fixture_child.ts" ||
  !rel.endsWith(".ts");

function stage() {
  rmSync(STAGE, { recursive: true, force: true });
  const copy = (rel) => {
    const src = join(SDK, rel);
    if (statSync(src).isDirectory()) {
      for (const e of readdirSync(src).sort()) copy(join(rel, e));
      return;
    }
    if (excluded(rel)) return;
    mkdirSync(dirname(join(STAGE, rel)), { recursive: true });
    copyFileSync(src, join(STAGE, rel));
  };
  for (const rel of ["mod.ts", "runtime.ts", "core", "node", "services"]) copy(rel);
  // Package entry points.
  copyFileSync(join(ROOT, "npm/src/node_index.ts"), join(STAGE, "node/index.ts"));
  // portctl (tools/portctl.ts runs on Node too): staged as tools/portctl.ts with its imports of
  // ../sdk/ts/ pointing at the package root; bin/portctl.js (written after tsc) runs its main().
  const portctl = readFileSync(join(ROOT, "tools/portctl.ts"), "utf8").replaceAll(
    '"../sdk/ts/',
    '"../',
  );
  if (/["']\.\.\/sdk\//.test(portctl)) {
    throw new Error("tools/portctl.ts: an import of sdk/ts was not rewritten");
  }
  mkdirSync(join(STAGE, "tools"), { recursive: true });
  writeFileSync(join(STAGE, "tools/portctl.ts"), portctl);
}

/** The CLI: bin/portctl.js (npm links it as `portctl`). */
function bin() {
  mkdirSync(join(OUT, "bin"), { recursive: true });
  const file = join(OUT, "bin/portctl.js");
  writeFileSync(
    file,
    `#!/usr/bin/env node
// portctl: discover and drive any ports v0 service from a shell (\`portctl --help\`).
import { main } from "../tools/portctl.js";
process.exit(await main(process.argv.slice(2)));
`,
    { mode: 0o755 },
  );
}

function compile() {
  rmSync(OUT, { recursive: true, force: true });
  const tsc = join(ROOT, "node_modules/.bin/tsc");
  try {
    execFileSync(tsc, ["-p", join(ROOT, "npm/tsconfig.json")], { cwd: ROOT, stdio: "inherit" });
  } catch {
    throw new Error("tsc failed (see above)");
  }
}

/** Bundled services: every sdk/ts/services/<svc>_server.ts with its <svc>.ts client. */
function services() {
  return readdirSync(join(STAGE, "services"))
    .filter((f) => f.endsWith("_server.ts"))
    .map((f) => f.slice(0, -"_server.ts".length))
    .filter((svc) => existsSync(join(STAGE, "services", `${svc}.ts`)))
    .sort();
}

function entry(path) {
  const base = path.replace(/\.js$/, "");
  for (const f of [`${base}.js`, `${base}.d.ts`]) {
    if (!existsSync(join(OUT, f))) throw new Error(`build output is missing ${f}`);
  }
  return { types: `./${base}.d.ts`, default: `./${base}.js` };
}

function packageJson(svcs) {
  const exports = {
    ".": entry("mod.js"),
    "./node": entry("node/index.js"),
    "./validator-runtime": entry("core/_validator_runtime.js"),
  };
  for (const svc of svcs) {
    exports[`./services/${svc}`] = entry(`services/${svc}.js`);
    exports[`./services/${svc}/server`] = entry(`services/${svc}_server.js`);
  }
  exports["./package.json"] = "./package.json";
  return {
    name: NAME,
    version: VERSION,
    description:
      "Typed clients and servers for CopperlineOS message ports (ports protocol v0): NDJSON over Unix sockets, " +
      "file descriptors by SCM_RIGHTS, typed calls, errors and event subscriptions",
    keywords: ["copperline", "ipc", "unix-socket", "ndjson", "scm_rights", "ports"],
    license: "MIT OR Apache-2.0",
    type: "module",
    main: "./mod.js",
    types: "./mod.d.ts",
    exports,
    bin: { portctl: "./bin/portctl.js" },
    engines: { node: ">=20" },
    os: ["linux"],
    // koffi is a plain dependency: its prebuilt binaries come through its own optional
    // dependencies (@koromix/koffi-<platform>), so installing needs no compiler. It is loaded
    // only when a connection passes descriptors or uses an abstract address, or by ./node.
    dependencies: { koffi: KOFFI },
  };
}

function readme(svcs) {
  const rows = svcs.map((s) =>
    `| \`${NAME}/services/${s}\` | \`${
      pascal(s)
    }Client\`, its types | \`${NAME}/services/${s}/server\` | \`${pascal(s)}Server\`, \`${
      pascal(s)
    }Handlers\` |`
  ).join("\n");
  return readFileSync(join(ROOT, "npm/README.md"), "utf8")
    .replaceAll("{{VERSION}}", VERSION)
    .replace(/^.*\{\{SERVICES\}\}.*$/m, rows);
}

const pascal = (s) => s.split(/[-_]/).map((p) => p[0].toUpperCase() + p.slice(1)).join("");

export function build() {
  const t0 = performance.now();
  stage();
  compile();
  bin();
  const svcs = services();
  writeFileSync(join(OUT, "package.json"), JSON.stringify(packageJson(svcs), null, 2) + "\n");
  writeFileSync(join(OUT, "README.md"), readme(svcs));
  console.log(
    `built ${NAME}@${VERSION} in ${relative(process.cwd(), OUT) || "."} ` +
      `(${svcs.length} services: ${svcs.join(", ")}; ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s)`,
  );
  return OUT;
}

export function pack(into = join(ROOT, "dist")) {
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", into], {
    cwd: OUT,
    encoding: "utf8",
  });
  const file = out.trim().split("\n").pop();
  return join(into, file);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  build();
  if (process.argv.includes("--pack")) console.log(pack());
}
