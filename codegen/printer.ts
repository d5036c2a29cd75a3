/**
 * A tiny printer: lines with indentation, and JSDoc blocks. Emitters print; templates hold only the
 * fixed shells (stamps).
 *
 * @module
 */

/** Accumulates lines of generated source. */
export class Printer {
  #lines: string[] = [];
  #indent = 0;
  readonly #unit: string;

  /** @param unit One level of indentation. */
  constructor(unit = "  ") {
    this.#unit = unit;
  }

  /** Prints a line at the current indentation (an empty call prints a blank line). */
  line(text = ""): this {
    this.#lines.push(text === "" ? "" : this.#unit.repeat(this.#indent) + text);
    return this;
  }

  /** Prints several lines (already formatted, e.g. from a library) verbatim. */
  raw(text: string): this {
    for (const l of text.replace(/\n+$/, "").split("\n")) this.#lines.push(l);
    return this;
  }

  /** Prints `open`, runs `body` one level deeper, prints `close`. */
  block(open: string, body: () => void, close = "}"): this {
    this.line(open);
    this.#indent++;
    body();
    this.#indent--;
    this.line(close);
    return this;
  }

  /** Prints a doc comment (`/** ... *\/` style or C `/** ... *\/`) from paragraphs and tag lines. */
  doc(parts: (string | undefined)[]): this {
    const text = parts.filter((p) => p !== undefined && p !== "") as string[];
    if (text.length === 0) return this;
    const body: string[] = [];
    text.forEach((p, i) => {
      if (i > 0 && !p.startsWith("@")) body.push("");
      for (const l of p.replace(/\*\//g, "*\\/").split("\n")) body.push(l);
    });
    if (body.length === 1) return this.line(`/** ${body[0]} */`);
    this.line("/**");
    for (const l of body) this.line(l === "" ? " *" : ` * ${l}`);
    return this.line(" */");
  }

  /** The text, ending with one newline. */
  toString(): string {
    return this.#lines.join("\n").replace(/\n+$/, "") + "\n";
  }
}
