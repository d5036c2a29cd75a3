/**
 * Path helpers the generator's CLI needs (no deno std here).
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** A `file:` URL to a path. */
export function fromFileUrl(url: URL): string {
  return fileURLToPath(url);
}
