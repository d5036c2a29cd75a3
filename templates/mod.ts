/**
 * Logic-free file shells for the generator (stamps, header guards). `fill` substitutes
 * `{{name}}` placeholders; loops and conditions live in the emitters.
 *
 * @module
 */

/** Template names and their text. */
export type Templates = Readonly<Record<string, string>>;

/** Names of the template files in this folder (without `.txt`). */
export const TEMPLATE_NAMES = ["stamp_ts", "stamp_c", "stamp_md", "c_header_open", "c_header_close"] as const;

/**
 * Replaces `{{key}}` by `vars[key]`. A placeholder without a value is an error.
 *
 * @param template The template text.
 * @param vars Values.
 */
export function fill(template: string, vars: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{([a-z_]+)\}\}/g, (_, k: string) => {
    const v = vars[k];
    if (v === undefined) throw new TypeError(`Template placeholder "${k}" has no value`);
    return v;
  });
}

/** Reads every template from a folder (used by the CLI; the generator itself does no I/O). */
export async function readTemplates(dir: URL): Promise<Templates> {
  const out: Record<string, string> = {};
  for (const name of TEMPLATE_NAMES) out[name] = await Deno.readTextFile(new URL(`${name}.txt`, dir));
  return out;
}
