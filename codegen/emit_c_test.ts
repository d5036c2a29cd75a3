/**
 * C emitter tests: golden-ish assertions on a small inline schema, and a compile check of every
 * generated header and source (gcc as C11, g++ as C++17, both with -Werror).
 *
 * @module
 */

import assert from "node:assert/strict";

const assertEquals = (a: unknown, b: unknown): void => assert.deepEqual(a, b);
const assertMatch = (text: string, re: RegExp) => assert.match(text, re);
const assertStringIncludes = (text: string, part: string) => assert.ok(text.includes(part), `expected to include:\n${part}`);
import { fromFileUrl } from "./_paths.ts";
import { emitC, GEN_API_VERSION } from "./emit_c.ts";
import { buildModel, type GeneratedFile, type ServiceModel } from "./mod.ts";
import { fill, readTemplates, type Templates } from "../templates/mod.ts";
import { loadModels } from "./cli.ts";

const ROOT = fromFileUrl(new URL("..", import.meta.url));
const templates: Templates = await readTemplates(new URL("../templates/", import.meta.url));

const TEST_SCHEMA = {
  service: "test-svc",
  version: "1.2.0",
  protocol: 0,
  description: "A small service for generator tests.",
  errors: { NO_SUCH_WIDGET: "The widget does not exist." },
  definitions: {
    WidgetKind: { description: "Kind of widget.", type: "string", enum: ["round", "square-ish", "x"] },
    Widget: {
      description: "A widget.",
      type: "object",
      properties: {
        id: { description: "Widget id.", type: "integer" },
        kind: { $ref: "#/definitions/WidgetKind" },
        label: { description: "Optional label.", type: "string" },
        weight: { type: "number" },
      },
      required: ["id", "kind"],
      additionalProperties: false,
    },
    Tree: {
      description: "A recursive definition.",
      type: "object",
      properties: { name: { type: "string" }, children: { type: "array", items: { $ref: "#/definitions/Tree" } } },
      required: ["name"],
      additionalProperties: false,
    },
    Anything: {
      description: "Either a number or a widget.",
      oneOf: [{ type: "number" }, { $ref: "#/definitions/Widget" }],
    },
  },
  commands: {
    make_widget: {
      description: "Makes a widget.",
      args: {
        type: "object",
        properties: {
          kind: { description: "What kind.", $ref: "#/definitions/WidgetKind" },
          tags: { description: "Tags.", type: "array", items: { type: "string" } },
          extra: { description: "Anything at all.", $ref: "#/definitions/Anything" },
          shared: { description: "A buffer.", "x-fd": true },
          mode: { type: "string", enum: ["fast", "slow"] },
        },
        required: ["kind"],
        additionalProperties: false,
      },
      result: {
        type: "object",
        properties: {
          widget: { $ref: "#/definitions/Widget" },
          notes: { type: "array", items: { type: "string" } },
          map: { type: "object", patternProperties: { "^a": { type: "integer" } } },
        },
        required: ["widget"],
        additionalProperties: false,
      },
      since: "1.1.0",
      deprecated: "Use make_widget2.",
    },
    list_widgets: {
      description: "Lists widgets.",
      args: { type: "object", properties: {}, additionalProperties: false },
      result: {
        type: "object",
        properties: { widgets: { type: "array", items: { $ref: "#/definitions/Widget" } } },
        required: ["widgets"],
        additionalProperties: false,
      },
    },
    get_buffer: {
      description: "Returns a buffer and a map.",
      args: { type: "object", properties: { size: { type: "integer" } }, additionalProperties: false },
      result: {
        type: "object",
        properties: {
          fd: { description: "The buffer.", "x-fd": true },
          more: { type: "array", items: { "x-fd": true } },
          tree: { $ref: "#/definitions/Tree" },
        },
        required: ["fd"],
        additionalProperties: false,
      },
    },
    get_map: {
      description: "A result that is a map.",
      args: { type: "object", properties: { prefix: { type: "string" } }, required: ["prefix"], additionalProperties: false },
      result: { type: "object", patternProperties: { "^a": { type: "integer" } }, additionalProperties: false },
    },
    poke: {
      description: "Pokes.",
      args: { type: "object", properties: { id: { type: "integer" } }, required: ["id"], additionalProperties: false },
      result: { type: "object", properties: {}, additionalProperties: false },
    },
  },
  events: {
    moved: {
      description: "A widget moved.",
      payload: {
        type: "object",
        properties: { id: { type: "integer" }, dx: { type: "number" }, kind: { $ref: "#/definitions/WidgetKind" } },
        required: ["id", "dx"],
        additionalProperties: false,
      },
      since: "1.0.0",
    },
    handed: {
      description: "An FD handed over.",
      payload: {
        type: "object",
        properties: { fd: { "x-fd": true }, note: { type: "string" } },
        required: ["fd"],
        additionalProperties: false,
      },
    },
  },
};

function ctxFor(m: ServiceModel) {
  const vars = { generator_version: "test", source: m.file, service: m.name, service_version: m.version };
  return { templates, stamp: (style: "ts" | "c" | "md") => fill(templates[`stamp_${style}`], vars).trimEnd() };
}

async function emitTest(): Promise<{ h: string; c: string; files: GeneratedFile[] }> {
  const m = buildModel("tests/test-svc.json", structuredClone(TEST_SCHEMA));
  const files = await emitC(m, ctxFor(m));
  const h = files.find((f) => f.path === "test_svc.h")!.content;
  const c = files.find((f) => f.path === "test_svc.c")!.content;
  return { h, c, files };
}

Deno.test("emit_c: one header and one source per service, named after model.c", async () => {
  const { files } = await emitTest();
  assertEquals(files.map((f) => `${f.target}/${f.path}`).sort(), ["c/test_svc.c", "c/test_svc.h"]);
});

Deno.test("emit_c: header shell, stamp, service macros", async () => {
  const { h, c } = await emitTest();
  assert(h.startsWith("/* @generated by copperline-ports codegen test from tests/test-svc.json"));
  assert(c.startsWith("/* @generated by copperline-ports codegen"));
  assertStringIncludes(h, "#ifndef CLP_SERVICE_TEST_SVC_H\n#define CLP_SERVICE_TEST_SVC_H");
  assertStringIncludes(h, '#include "cl_ports.h"');
  assertStringIncludes(h, 'extern "C" {');
  assertStringIncludes(h, '#define TEST_SVC_SERVICE_NAME "test-svc"');
  assertStringIncludes(h, '#define TEST_SVC_SERVICE_VERSION "1.2.0"');
  assertStringIncludes(h, '#define TEST_SVC_SOCKET_PATH "/run/copperline/test-svc.sock"');
  assertStringIncludes(h, '#define TEST_SVC_SOCKET_ENV "TEST_SVC_SOCKET"');
  assertStringIncludes(h, '#define TEST_SVC_ERROR_NO_SUCH_WIDGET "NO_SUCH_WIDGET"');
  assert(h.trimEnd().endsWith("#endif /* CLP_SERVICE_TEST_SVC_H */"));
});

Deno.test("emit_c: enums become constants with a name table and string helpers", async () => {
  const { h, c } = await emitTest();
  assertStringIncludes(h, "typedef enum test_svc_widget_kind {");
  assertStringIncludes(h, "    TEST_SVC_WIDGET_KIND_ROUND = 0,");
  assertStringIncludes(h, "    TEST_SVC_WIDGET_KIND_SQUARE_ISH = 1,");
  assertStringIncludes(h, "    TEST_SVC_WIDGET_KIND_X = 2,");
  assertStringIncludes(h, "} test_svc_widget_kind_t;");
  assertStringIncludes(h, "extern const char *const test_svc_widget_kind_names[3];");
  assertStringIncludes(h, "const char *test_svc_widget_kind_to_string(test_svc_widget_kind_t value);");
  assertStringIncludes(h, "int test_svc_widget_kind_from_string(const char *name, test_svc_widget_kind_t *ret_value);");
  assertStringIncludes(c, '    "square-ish",');
  // An inline enum is named after its parent type and field.
  assertStringIncludes(h, "TEST_SVC_MAKE_WIDGET_ARGS_MODE_FAST = 0,");
});

Deno.test("emit_c: structs, optional flags, arrays, args borrow and results own", async () => {
  const { h } = await emitTest();
  assertMatch(h, /typedef struct test_svc_make_widget_args \{[\s\S]*?test_svc_widget_kind_t kind;[\s\S]*?bool has_tags;\n\s+const char \*const \*tags;\n\s+size_t tags_len;[\s\S]*?\} test_svc_make_widget_args_t;/);
  assertMatch(h, /bool has_shared;\n\s+int shared;/);
  assertMatch(h, /typedef struct test_svc_make_widget_result \{[\s\S]*?test_svc_widget_t widget;[\s\S]*?char \*\*notes;\n\s+size_t notes_len;/);
  // Widget is used by a result: it owns its string.
  assertMatch(h, /typedef struct test_svc_widget \{[\s\S]*?bool has_label;\n\s+char \*label;/);
  assertStringIncludes(h, "void test_svc_widget_free(test_svc_widget_t *value);");
  assertStringIncludes(h, "void test_svc_make_widget_result_free(test_svc_make_widget_result_t *value);");
  assertStringIncludes(h, "int test_svc_widget_to_json(const test_svc_widget_t *value, struct json_t **ret_json);");
});

Deno.test("emit_c: constructs without a C shape fall back to json_t, documented", async () => {
  const { h } = await emitTest();
  assertMatch(h, /Represented as JSON because a oneOf union has no single C shape\.[^\n]*\n[\s\S]*?struct json_t \*extra;/);
  assertMatch(h, /Represented as JSON because a map \(patternProperties\) has no C struct shape\.[\s\S]*?struct json_t \*map;/);
});

Deno.test("emit_c: functions, since/deprecated, ret_result last, no params for empty args/results", async () => {
  const { h, c } = await emitTest();
  assertStringIncludes(h, '#define TEST_SVC_MAKE_WIDGET_SINCE_VERSION "1.1.0"');
  assertStringIncludes(h, "int test_svc_make_widget(clp_client_t *client, const test_svc_make_widget_args_t *args, test_svc_make_widget_result_t *ret_result);");
  assertStringIncludes(h, "int test_svc_list_widgets(clp_client_t *client, test_svc_list_widgets_result_t *ret_result);");
  assertStringIncludes(h, "int test_svc_poke(clp_client_t *client, const test_svc_poke_args_t *args);");
  assertMatch(h, /@since 1\.1\.0\n \* @deprecated Use make_widget2\.\n \*\/\nint test_svc_make_widget\(/);
  assertStringIncludes(h, "From tests/test-svc.json#/commands/make_widget.");
  // Every call goes through clp_gen_call: FD-carrying args pass their FDs, results receive FDs.
  assertStringIncludes(c, 'clp_gen_call(client, "make_widget", jargs, &fds, &jres, &rf)');
  assertStringIncludes(c, 'clp_gen_call(client, "poke", jargs, NULL, &jres, NULL)');
});

Deno.test("emit_c: events: tagged union, decode/free, subscribe mask", async () => {
  const { h } = await emitTest();
  assertStringIncludes(h, '#define TEST_SVC_MOVED_EVENT_SINCE_VERSION "1.0.0"');
  assertStringIncludes(h, "TEST_SVC_EVENT_MOVED = 2,");
  assertStringIncludes(h, "#define TEST_SVC_EVENT_MASK_MOVED (UINT32_C(1) << 0)");
  assertMatch(h, /typedef struct test_svc_event \{[\s\S]*?test_svc_event_kind_t kind;[\s\S]*?test_svc_moved_event_t moved;[\s\S]*?\} test_svc_event_t;/);
  assertStringIncludes(h, "int test_svc_event_decode(const clp_msg_t *msg, test_svc_event_t *ret_event);");
  assertStringIncludes(h, "void test_svc_event_free(test_svc_event_t *event);");
  assertStringIncludes(h, "int test_svc_subscribe(clp_client_t *client, uint32_t event_mask, const char *filter_json, int64_t *ret_sub);");
});

Deno.test("emit_c: FDs in results and events, recursion and non-object results", async () => {
  const { h, c } = await emitTest();
  // Result FDs are owned by the result: taken from clp_gen_call's FDs, the rest released.
  assertMatch(h, /Owned file descriptor: closed by the type's `_free` unless taken[\s\S]*?\n\s+int fd;\n\} test_svc_get_buffer_result_t;|int fd;[\s\S]*?test_svc_get_buffer_result_t/);
  assertStringIncludes(c, 'clp_gen_call(client, "get_buffer", jargs, NULL, &jres, &rf)');
  assertStringIncludes(c, "clp_gen_rfds_release(&rf);");
  // Events: the envelope (and the FDs, duplicated out of the message) come from the library.
  assertStringIncludes(c, "rc = clp_gen_event_open(msg, &root, &ret_event->name, &ret_event->sub, &rf);");
  assertStringIncludes(c, "rc = clp_gen_event_dropped(root, &ret_event->u.dropped.count, &ret_event->u.dropped.reason);");
  // A recursive reference falls back to JSON.
  assertMatch(h, /recursive reference to definition Tree[\s\S]*?struct json_t \*\*children;/);
  // A result that is not struct-shaped is wrapped in a struct with one `value` member.
  assertMatch(h, /typedef struct test_svc_get_map_result \{[\s\S]*?struct json_t \*value;\n\} test_svc_get_map_result_t;/);
  // All-optional args may be NULL.
  assertMatch(h, /@param args the arguments \(borrowed\); NULL sends none\.[\s\S]*?int test_svc_get_buffer\(/);
});

Deno.test("emit_c: generic helpers come from cl_ports_gen.h, whose API version the source checks", async () => {
  const { c } = await emitTest();
  assertStringIncludes(c, '#include "cl_ports_gen.h"');
  assertStringIncludes(c, `#if !defined(CLP_GEN_API_VERSION) || CLP_GEN_API_VERSION != ${GEN_API_VERSION}\n#error "test_svc.c was generated for`);
  // No helper of its own: every function in the file is typed (named after the service or a type).
  assert(!/\bcg_|static inline|typedef struct/.test(c), "generated source defines its own generic helpers");
  const fns = [...c.matchAll(/^(?:static )?(?:int|void|const char \*) ([a-z_0-9]+)\(/gm)].map((m) => m[1]);
  assert(fns.length > 10, `expected the generated functions, found ${fns.length}`);
  for (const fn of fns) assertMatch(fn, /^(?:init_|enc_|dec_)?test_svc_/);
  assertStringIncludes(c, "clp_gen_put_fd(fds, v->");
  assertStringIncludes(c, "clp_gen_get_fd(f, fds, &v->");
  assertStringIncludes(c, "clp_gen_get_string(f, &v->");
  // The emitter and the library header agree on the version.
  const hdr = await Deno.readTextFile(`${ROOT}/sdk/c/include/cl_ports_gen.h`);
  assertStringIncludes(hdr, `#define CLP_GEN_API_VERSION ${GEN_API_VERSION}\n`);
});

Deno.test("emit_c: output is deterministic", async () => {
  const a = await emitTest(), b = await emitTest();
  assertEquals(a.h, b.h);
  assertEquals(a.c, b.c);
});

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function haveCompilers(): Promise<boolean> {
  try {
    return (await run("gcc", ["--version"])).ok && (await run("g++", ["--version"])).ok &&
      (await Deno.stat("/usr/include/jansson.h")).isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "emit_c: every generated header and source compiles as C11 and C++17 with -Werror",
  ignore: !(await haveCompilers()),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "emit_c_test_" });
    try {
      const models = await loadModels([`${ROOT}/schemas`]);
      models.push(buildModel("tests/test-svc.json", structuredClone(TEST_SCHEMA)));
      const files: GeneratedFile[] = [];
      for (const m of models) files.push(...await emitC(m, ctxFor(m)));
      for (const f of files) await Deno.writeTextFile(`${dir}/${f.path}`, f.content);
      const inc = ["-I", `${ROOT}/sdk/c/include`, "-I", dir];
      const jobs = files.map((f) =>
        f.path.endsWith(".c")
          ? run("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", ...inc, "-c", `${dir}/${f.path}`, "-o", `${dir}/${f.path}.o`])
          : run("g++", ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", ...inc, `${dir}/${f.path}`])
      );
      const results = await Promise.all(jobs);
      const failures = results.map((r, i) => r.ok ? "" : `${files[i].path}:\n${r.out}`).filter(Boolean);
      assertEquals(failures, []);
      // Headers also compile as C on their own.
      const hs = files.filter((f) => f.path.endsWith(".h"));
      const cres = await Promise.all(hs.map((f) => run("gcc", ["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c", ...inc, `${dir}/${f.path}`])));
      assertEquals(cres.map((r, i) => r.ok ? "" : `${hs[i].path}:\n${r.out}`).filter(Boolean), []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
