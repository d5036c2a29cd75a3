/**
 * Emitters for targets beyond TypeScript, by target name. The CLI passes this table to
 * `generate`; each emitter is a pure function of the service model.
 *
 * @module
 */

import { emitC } from "./emit_c.ts";
import { emitDocs } from "./emit_docs.ts";
import type { Emitter, Target } from "./mod.ts";

/** Registered emitters. */
export const emitters: Partial<Record<Target, Emitter>> = {
  c: emitC,
  docs: emitDocs,
};
