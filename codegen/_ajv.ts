/**
 * Ajv, imported once with the CommonJS/ESM interop settled (Ajv ships CommonJS).
 *
 * @module
 */

import { Ajv } from "ajv";
import * as standaloneModule from "ajv/dist/standalone/index.js";

export { Ajv };

// deno-lint-ignore no-explicit-any
const mod = standaloneModule as any;
/** Ajv's standalone code generator: validators as JavaScript source. */
export const standaloneCode: (ajv: Ajv, refs: Record<string, string>) => string =
  typeof mod.default === "function" ? mod.default : mod.default.default;
