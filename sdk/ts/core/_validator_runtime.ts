/**
 * The two helpers that precompiled (Ajv standalone) validators call: string length in code points
 * and deep equality. Internal: generated validator modules import it.
 *
 * @module
 */

/** Length of a string in Unicode code points (what JSON Schema's minLength/maxLength count). */
export function ucs2length(str: string): number {
  const len = str.length;
  let length = 0;
  let pos = 0;
  let value: number;
  while (pos < len) {
    length++;
    value = str.charCodeAt(pos++);
    if (value >= 0xd800 && value <= 0xdbff && pos < len) {
      value = str.charCodeAt(pos);
      if ((value & 0xfc00) === 0xdc00) pos++;
    }
  }
  return length;
}

/** Deep equality of JSON values (for `const` and `enum` with objects). */
export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a && b && typeof a === "object" && typeof b === "object") {
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
      return true;
    }
    if (Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    if (ka.length !== kb.length) return false;
    for (const k of ka) {
      if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
      if (!equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    }
    return true;
  }
  return a !== a && b !== b;
}

/** An Ajv error, as much of it as the issue mapping reads. */
interface AjvError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** An Ajv standalone validate function. */
export type AjvValidate = ((data: unknown) => boolean) & { errors?: AjvError[] | null };

/**
 * Wraps an Ajv standalone validator into a `Validator` (returns the most specific issue).
 *
 * @param validate The precompiled function.
 */
export function issueOf(validate: AjvValidate): (value: unknown) => { path: string; message: string } | undefined {
  return (value) => {
    if (validate(value)) return undefined;
    const errors = validate.errors ?? [];
    let best: AjvError | undefined;
    for (const e of errors) {
      if (e.keyword === "oneOf" || e.keyword === "anyOf" || e.keyword === "if") continue;
      if (!best || e.instancePath.length > best.instancePath.length) best = e;
    }
    best ??= errors[0];
    if (!best) return { path: "", message: "is invalid" };
    let path = best.instancePath;
    let message = best.message ?? "is invalid";
    const p = best.params;
    if (best.keyword === "additionalProperties") {
      path += "/" + String(p.additionalProperty);
      message = "is not an allowed field";
    } else if (best.keyword === "required") {
      path += "/" + String(p.missingProperty);
      message = "is required";
    } else if (best.keyword === "enum" && Array.isArray(p.allowedValues)) {
      message = "must be one of " + p.allowedValues.map((v) => JSON.stringify(v)).join(", ");
    } else if (best.keyword === "const") {
      message = "must be " + JSON.stringify(p.allowedValue);
    }
    return { path, message };
  };
}
