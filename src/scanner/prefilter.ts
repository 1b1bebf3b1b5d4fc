// The text pre-filter: which files can hold a decorator of ours, decided without parsing.
//
// Stage 1: a decorator starts with '@'; a file without one is never parsed.
// Stage 2: ours is `@name`, `@name.member` or `@name(...)` where `name` is bound in this file, by an
// import or a declaration, so `name` appears at least twice in the text. An '@' whose name
// appears only once (JSDoc's `@param`, an e-mail address, a global decorator) cannot be ours. The
// stage is conservative: anything it does not fully understand (`@(expr)`, unicode escapes or
// non-ASCII names) makes the file a candidate; a false candidate costs a parse, never a driver.

const IDENTIFIER_START = /[A-Za-z_$]/;
const IDENTIFIER_PART = /[\w$]/;

export function mayHoldDecorator(text: string): boolean {
  let at = text.indexOf('@');
  if (at < 0) return false;
  // Identifiers may be spelled with escapes (`\u0062lockDriver`): do not try to be clever.
  if (text.includes('\\u')) return true;
  const checked = new Set<string>();
  for (; at >= 0; at = text.indexOf('@', at + 1)) {
    const name = nameAfter(text, at + 1);
    if (name === undefined) return true;
    if (name === '' || checked.has(name)) continue;
    checked.add(name);
    if (occurrences(text, name) > 1) return true;
  }
  return false;
}

/** The identifier after '@' (skipping spaces and comments); '' when none; undefined when unsure. */
function nameAfter(text: string, i: number): string | undefined {
  for (;;) {
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return '';
      i = end + 2;
    } else if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i + 2);
      if (end < 0) return '';
      i = end + 1;
    } else break;
  }
  const first = text[i];
  if (first === undefined) return '';
  if (first === '(' || first.charCodeAt(0) > 0x7f) return undefined;
  if (!IDENTIFIER_START.test(first)) return '';
  let end = i + 1;
  while (end < text.length && IDENTIFIER_PART.test(text[end]!)) end++;
  if (end < text.length && text.charCodeAt(end) > 0x7f) return undefined;
  return text.slice(i, end);
}

/** How often `name` appears as a whole word (a larger count than the truth is harmless). */
function occurrences(text: string, name: string): number {
  let count = 0;
  for (let i = text.indexOf(name); i >= 0; i = text.indexOf(name, i + 1)) {
    const before = i > 0 ? text[i - 1]! : ' ';
    const after = text[i + name.length] ?? ' ';
    if (IDENTIFIER_PART.test(before) || IDENTIFIER_PART.test(after)) continue;
    if (++count > 1) return count;
  }
  return count;
}
