/**
 * A query string's name/value pairs, as `URLSearchParams` reads them, without building
 * one on the hot call route: a query with nothing to decode (no `%`, no `+`) is split
 * in place, any other (and one that begins with `?`) goes through `URLSearchParams` — so both read every query alike.
 */

const AMPERSAND = 0x26;
const EQUALS = 0x3d;
const QUESTION = 0x3f;

/** The pairs of `raw` (a query string without its `?`), in order, decoded as `application/x-www-form-urlencoded`. */
export function queryEntries(raw: string): [string, string][] {
  if (raw === '') return [];
  // A leading `?` (from `??` in a URL) is dropped by URLSearchParams: it reads that one too.
  if (raw.includes('%') || raw.includes('+') || raw.charCodeAt(0) === QUESTION) return [...new URLSearchParams(raw).entries()];
  const out: [string, string][] = [];
  // One pass: each character is looked at once, whatever the query holds.
  let start = 0;
  let eq = -1;
  for (let i = 0; i <= raw.length; i++) {
    const c = i < raw.length ? raw.charCodeAt(i) : AMPERSAND;
    if (c === EQUALS && eq < 0) eq = i;
    else if (c === AMPERSAND) {
      // Empty sequences (`a=1&&b=2`, a trailing `&`) name nothing, as in URLSearchParams.
      if (i > start) out.push(eq < 0 ? [raw.slice(start, i), ''] : [raw.slice(start, eq), raw.slice(eq + 1, i)]);
      start = i + 1;
      eq = -1;
    }
  }
  return out;
}
