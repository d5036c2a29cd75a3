/**
 * Mechanical, predictable names for generated code (wayland-scanner style): the same schema name
 * always gives the same identifier in every target.
 *
 * @module
 */

const TS_RESERVED = new Set([
  "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete", "do",
  "else", "enum", "export", "extends", "false", "finally", "for", "function", "if", "import", "in",
  "instanceof", "new", "null", "return", "super", "switch", "this", "throw", "true", "try",
  "typeof", "var", "void", "while", "with", "yield", "let", "static", "implements", "interface",
  "package", "private", "protected", "public", "await",
]);

const C_RESERVED = new Set([
  "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
  "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
  "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
  "volatile", "while", "bool", "true", "false", "class", "delete", "new", "private", "public",
  "protected", "template", "this", "throw", "try", "catch", "namespace", "operator", "friend",
  "virtual", "export", "and", "or", "not", "xor",
]);

function words(name: string): string[] {
  return name.split(/[^A-Za-z0-9]+/).filter(Boolean);
}

/** `create_layer` → `CreateLayer`, `compat-uae` → `CompatUae`. */
export function pascal(name: string): string {
  // A letter after a digit is upper-cased too (i2c → I2C), as json-schema-to-typescript names types.
  return words(name).map((w) => (w[0].toUpperCase() + w.slice(1)).replace(/([0-9])([a-z])/g, (_, d, c) => d + c.toUpperCase())).join("");
}

/** `create_layer` → `createLayer`; reserved words get a trailing `_`. */
export function camel(name: string): string {
  const p = words(name).map((w) => w[0].toUpperCase() + w.slice(1)).join("");
  const c = p[0].toLowerCase() + p.slice(1);
  return TS_RESERVED.has(c) ? c + "_" : c;
}

/** `compat-uae` → `compat_uae`; C/C++ keywords get a trailing `_`. */
export function cName(name: string): string {
  const c = words(name).join("_").toLowerCase();
  return C_RESERVED.has(c) ? c + "_" : c;
}

/** `compat-uae` → `COMPAT_UAE`. */
export function upperSnake(name: string): string {
  return words(name).join("_").toUpperCase();
}

/** A property key as TypeScript source: bare when it is an identifier, quoted otherwise. */
export function tsKey(name: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(name) ? name : JSON.stringify(name);
}
