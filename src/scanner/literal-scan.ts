// The usual driver file read without the compiler: one `@blockDriver({...})` imported from
// `gen-modules/runtime`, on an exported class at the top level, whose argument is an object of
// plain literals (strings, numbers, booleans, null, arrays and objects of them). A tokenizer walks
// the whole file (comments, strings, templates and regular expressions skipped as the language
// does, brackets matched); the import, the decorator and the class heading are read token by
// token. Whatever it does not fully understand, it leaves to the parser (returns undefined): a
// second '@', a name or value it would have to look up, a legacy octal or malformed escape, a
// bracket that does not match, a '/' it cannot tell apart as division or a regular expression,
// any character beyond ASCII outside strings and comments. For a file it accepts, the result is what scanModule gives
// for the parsed file (test/scanner/literal-scan.test.ts holds it against the parser on every
// source of this repository and on variations).
//
// What it does not do is check the rest of the file's syntax: a method body with an error still
// yields its driver. So only scans whose files a compiler checks anyway use it: the bundler plugins
// (each driver file is an entry point the bundler parses, and a syntax error fails the build there,
// with its place). Loading the compiler costs 60-150 ms of a fresh process and parsing a file about
// 30 us once the parser is warm; this reads the bench's driver files in about 10 us each.
import type { At } from '../diagnostics/codes.js';
import type { ConstValue } from '../model.js';
import { RUNTIME_MODULE } from './module-resolver.js';
import type { FileScan, FoundDecorator } from './scan-file.js';

/** File names the reader takes: no JSX (its text is not JavaScript's tokens). */
const READABLE = /\.(?:[cm]?ts|[cm]?js)$/;

const enum Kind {
  Identifier,
  String,
  /** A template without substitutions. */
  Template,
  /** A string or template with an escape (its value is not its text). */
  Escaped,
  /** Part of a template with substitutions. */
  TemplatePart,
  Number,
  Regex,
  Punctuator,
}

interface Tokens {
  text: string;
  kinds: Kind[];
  starts: number[];
  ends: number[];
  /** Index of each '@' token, and -1 for each one below the top level. */
  ats: number[];
  /** Index of each `import` at the top level. */
  imports: number[];
}

// Character codes.
const TAB = 9;
const LF = 10;
const VT = 11;
const FF = 12;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const DOLLAR = 36;
const APOSTROPHE = 39;
const OPEN_PAREN = 40;
const CLOSE_PAREN = 41;
const STAR = 42;
const COMMA = 44;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const COLON = 58;
const SEMICOLON = 59;
const AT = 64;
const EXCLAMATION = 33;
const PLUS = 43;
const OPEN_BRACKET = 91;
const BACKSLASH = 92;
const CLOSE_BRACKET = 93;
const BACKTICK = 96;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
/** On the bracket stack: a template's `${`, and a '(' after if/while/for/with (a '/' after its ')' starts a regular expression). */
const SUBSTITUTION = 1;
const CONTROL_PAREN = 2;

const isIdentifierPart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === DOLLAR;
const isDigit = (c: number) => c >= 48 && c <= 57;

/** Keywords after which a '/' starts a regular expression (an operand comes next). */
const BEFORE_OPERAND = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);
const CONTROL = new Set(['if', 'while', 'for', 'with']);

/** The file's tokens, or undefined where the reader is not sure of them. */
function tokenize(text: string): Tokens | undefined {
  const kinds: Kind[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const ats: number[] = [];
  const imports: number[] = [];
  const stack: number[] = [];
  /** The token index of the last ')' that closed the condition of if/while/for/with. */
  let controlClose = -1;
  const n = text.length;
  let i = 0;
  if (text.startsWith('#!')) {
    i = text.indexOf('\n');
    if (i < 0) i = n;
  }
  const push = (kind: Kind, start: number, end: number) => {
    kinds.push(kind);
    starts.push(start);
    ends.push(end);
  };
  /**
   * From after a '`' or a substitution's '}': the end of the template's text, whether a '`' closed
   * it (else a '${'), and whether it held an escape or a CR (its value is then not its text: the
   * value turns CR LF into LF); undefined when unterminated.
   */
  const templateEnd = (from: number): [end: number, closed: boolean, escaped: boolean] | undefined => {
    let escaped = false;
    for (let j = from; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === BACKTICK) return [j + 1, true, escaped];
      if (c === BACKSLASH || c === CR) {
        escaped = true;
        if (c === BACKSLASH) j++;
      } else if (c === DOLLAR && text.charCodeAt(j + 1) === OPEN_BRACE) return [j + 2, false, escaped];
    }
    return undefined;
  };
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === SPACE || c === LF || c === CR || c === TAB || c === VT || c === FF) {
      i++;
      continue;
    }
    const start = i;
    if (c === SLASH) {
      const next = text.charCodeAt(i + 1);
      if (next === SLASH) {
        const end = text.indexOf('\n', i);
        i = end < 0 ? n : end;
        continue;
      }
      if (next === STAR) {
        const end = text.indexOf('*/', i + 2);
        if (end < 0) return undefined;
        i = end + 2;
        continue;
      }
      const regex = regexAllowed(text, kinds, starts, ends, controlClose);
      if (regex === undefined) return undefined;
      if (!regex) {
        push(Kind.Punctuator, i, ++i);
        continue;
      }
      let inClass = false;
      for (i++; ; i++) {
        if (i >= n) return undefined;
        const r = text.charCodeAt(i);
        if (r === LF || r === CR) return undefined;
        if (r === BACKSLASH) i++;
        else if (r === OPEN_BRACKET) inClass = true;
        else if (r === CLOSE_BRACKET) inClass = false;
        else if (r === SLASH && !inClass) break;
      }
      for (i++; i < n && isIdentifierPart(text.charCodeAt(i)); i++);
      push(Kind.Regex, start, i);
      continue;
    }
    if (c === QUOTE || c === APOSTROPHE) {
      let escaped = false;
      for (i++; ; i++) {
        if (i >= n) return undefined;
        const s = text.charCodeAt(i);
        if (s === c) break;
        if (s === LF || s === CR) return undefined;
        if (s === BACKSLASH) {
          escaped = true;
          i++;
        }
      }
      push(escaped ? Kind.Escaped : Kind.String, start, ++i);
      continue;
    }
    if (c === BACKTICK) {
      const end = templateEnd(i + 1);
      if (!end) return undefined;
      i = end[0];
      if (!end[1]) stack.push(SUBSTITUTION);
      push(!end[1] ? Kind.TemplatePart : end[2] ? Kind.Escaped : Kind.Template, start, i);
      continue;
    }
    if (isIdentifierPart(c)) {
      for (i++; i < n && isIdentifierPart(text.charCodeAt(i)); i++);
      // A name or number running into a character beyond ASCII (a name spelled with one).
      if (i < n && text.charCodeAt(i) > 0x7f) return undefined;
      if (isDigit(c)) {
        // 1.5, 2e8: the reader takes the value's text as a whole (decimals and exponents are its business).
        while (i < n && text.charCodeAt(i) === DOT && isDigit(text.charCodeAt(i + 1))) for (i++; i < n && isIdentifierPart(text.charCodeAt(i)); i++);
        push(Kind.Number, start, i);
        continue;
      }
      if (stack.length === 0 && i - start === 6 && text.startsWith('import', start)) imports.push(kinds.length);
      push(Kind.Identifier, start, i);
      continue;
    }
    if (c > 0x7f || c === BACKSLASH) return undefined;
    i++;
    if (c === OPEN_PAREN) {
      const last = kinds.length - 1;
      stack.push(last >= 0 && kinds[last] === Kind.Identifier && CONTROL.has(text.slice(starts[last], ends[last])) ? CONTROL_PAREN : OPEN_PAREN);
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) stack.push(c);
    else if (c === CLOSE_PAREN) {
      const open = stack.pop();
      if (open === CONTROL_PAREN) controlClose = kinds.length;
      else if (open !== OPEN_PAREN) return undefined;
    } else if (c === CLOSE_BRACKET) {
      if (stack.pop() !== OPEN_BRACKET) return undefined;
    } else if (c === CLOSE_BRACE) {
      const open = stack.pop();
      if (open === SUBSTITUTION) {
        // The template goes on after its substitution.
        const end = templateEnd(i);
        if (!end) return undefined;
        i = end[0];
        if (!end[1]) stack.push(SUBSTITUTION);
        push(Kind.TemplatePart, start, i);
        continue;
      }
      if (open !== OPEN_BRACE) return undefined;
    } else if (c === AT) ats.push(stack.length === 0 ? kinds.length : -1);
    push(Kind.Punctuator, start, i);
  }
  return stack.length === 0 ? { text, kinds, starts, ends, ats, imports } : undefined;
}

/** The name at token `k`; undefined for any other token. */
function wordAt(t: Tokens, k: number): string | undefined {
  return t.kinds[k] === Kind.Identifier ? t.text.slice(t.starts[k], t.ends[k]) : undefined;
}

/** Whether token `k` is the punctuator `code`. */
function isPunctuator(t: Tokens, k: number, code: number): boolean {
  return t.kinds[k] === Kind.Punctuator && t.text.charCodeAt(t.starts[k]!) === code;
}

/** Whether a '/' here starts a regular expression; undefined when the reader cannot tell. */
function regexAllowed(text: string, kinds: readonly Kind[], starts: readonly number[], ends: readonly number[], controlClose: number, last = kinds.length - 1): boolean | undefined {
  if (last < 0) return true;
  switch (kinds[last]) {
    case Kind.Identifier:
      return BEFORE_OPERAND.has(text.slice(starts[last], ends[last]));
    case Kind.Punctuator: {
      const c = text.charCodeAt(starts[last]!);
      // After a ')', only the condition of if/while/for/with is followed by an operand; after a
      // '}', a block is and an object is not, which tokens alone do not tell.
      if (c === CLOSE_PAREN) return last === controlClose;
      if (c === CLOSE_BRACE) return undefined;
      if (c === CLOSE_BRACKET) return false;
      // TypeScript's `x!` ends an operand (a prefix '!' never follows one); so does `x++`, which
      // from single characters is not told apart from `a + +b`.
      if (c === EXCLAMATION) return last === 0 || regexAllowed(text, kinds, starts, ends, controlClose, last - 1);
      if ((c === PLUS || c === MINUS) && last > 0 && kinds[last - 1] === Kind.Punctuator && text.charCodeAt(starts[last - 1]!) === c && ends[last - 1] === starts[last]) return undefined;
      return true;
    }
    case Kind.TemplatePart:
      // After a template's `${` an operand comes; after its end, an operator.
      return text.charCodeAt(ends[last]! - 1) === OPEN_BRACE;
    default:
      // After a number, string, template or regular expression an operator follows.
      return false;
  }
}

/** The line starts as the compiler counts lines (CR LF, CR, LF, U+2028, U+2029). */
function lineStarts(text: string): number[] {
  const result = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === CR) {
      if (text.charCodeAt(i + 1) === LF) i++;
      result.push(i + 1);
    } else if (c === LF || c === 0x2028 || c === 0x2029) result.push(i + 1);
  }
  return result;
}

/** A location's place while the value inside it is read (a failed read discards them all). */
const PENDING: At = { file: '', line: 0, column: 0 };

/** The file's one decorator of ours, read from its tokens; undefined for anything else. */
class Reader {
  private k: number;
  private lines: number[] | undefined;
  readonly valueLocations: Record<string, At> = {};
  readonly optionLocations: Record<string, At> = {};

  private readonly text: string;

  constructor(
    private readonly file: string,
    private readonly t: Tokens,
    start: number,
  ) {
    this.text = t.text;
    this.k = start;
  }

  /** Takes the punctuator `code` if it is next. */
  private take(code: number): boolean {
    if (!isPunctuator(this.t, this.k, code)) return false;
    this.k++;
    return true;
  }

  at(start: number, end: number): At {
    const lines = (this.lines ??= lineStarts(this.text));
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lines[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    return { file: this.file, line: lo + 1, column: start - lines[lo]! + 1, length: Math.max(1, end - start) };
  }

  /** `@name(` : the decorator's local name. */
  decoratorName(): string | undefined {
    const name = wordAt(this.t, this.k + 1);
    if (name === undefined || !isPunctuator(this.t, this.k + 2, OPEN_PAREN)) return undefined;
    this.k += 3;
    return name;
  }

  /** `)` closing the decorator call: the decorator's end. */
  closeCall(): number | undefined {
    return this.take(CLOSE_PAREN) ? this.t.ends[this.k - 1] : undefined;
  }

  /** The token after the call. */
  get next(): number {
    return this.k;
  }

  /** A constant value, its locations recorded under `path`; undefined for anything but plain literals. */
  value(path: string, depth: number): ConstValue | undefined {
    const { kinds, starts, ends } = this.t;
    const k = this.k++;
    const start = starts[k]!;
    switch (kinds[k]) {
      case Kind.String:
      case Kind.Template:
        return this.text.slice(start + 1, ends[k]! - 1);
      case Kind.Escaped:
        return this.text.charCodeAt(start) === BACKTICK ? undefined : cooked(this.text, start + 1, ends[k]! - 1);
      case Kind.Number:
        return numberValue(this.text.slice(start, ends[k]));
      case Kind.Identifier: {
        const word = this.text.slice(start, ends[k]);
        return word === 'true' ? true : word === 'false' ? false : word === 'null' ? null : undefined;
      }
      case Kind.Punctuator:
        break;
      default:
        return undefined;
    }
    const c = this.text.charCodeAt(start);
    if (c === MINUS) {
      const number = kinds[this.k] === Kind.Number ? numberValue(this.text.slice(starts[this.k], ends[this.k++])) : undefined;
      return number === undefined ? undefined : -number;
    }
    // The evaluator's nesting limit is far above this; deeper literals go to it.
    if (depth > 32) return undefined;
    if (c === OPEN_BRACKET) return this.array(path, depth);
    if (c === OPEN_BRACE) return this.object(path, depth);
    return undefined;
  }

  private array(path: string, depth: number): ConstValue[] | undefined {
    const items: ConstValue[] = [];
    while (!this.take(CLOSE_BRACKET)) {
      const inner = `${path}[${items.length}]`;
      const first = this.k;
      // Placed before the locations inside it, in the parser's order.
      this.valueLocations[inner] = PENDING;
      const item = this.value(inner, depth + 1);
      if (item === undefined) return undefined;
      this.valueLocations[inner] = this.at(this.t.starts[first]!, this.t.ends[this.k - 1]!);
      items.push(item);
      if (!this.take(COMMA) && !isPunctuator(this.t, this.k, CLOSE_BRACKET)) return undefined;
    }
    return items;
  }

  private object(path: string, depth: number): { [key: string]: ConstValue } | undefined {
    const object: { [key: string]: ConstValue } = {};
    while (!this.take(CLOSE_BRACE)) {
      const { kinds, starts, ends } = this.t;
      const first = this.k;
      const kind = kinds[first];
      // A name or a plain string; the value of a key is its text either way.
      if (kind !== Kind.Identifier && kind !== Kind.String) return undefined;
      const key = kind === Kind.Identifier ? this.text.slice(starts[first], ends[first]) : this.text.slice(starts[first]! + 1, ends[first]! - 1);
      // A repeated key keeps its first place and its last value; '__proto__' would be the
      // locations' prototype. Both are the evaluator's to handle.
      if (key === '__proto__' || Object.hasOwn(object, key)) return undefined;
      this.k++;
      if (!this.take(COLON)) return undefined;
      const inner = path ? `${path}.${key}` : key;
      this.valueLocations[inner] = PENDING;
      const value = this.value(inner, depth + 1);
      if (value === undefined) return undefined;
      const where = this.at(starts[first]!, ends[this.k - 1]!);
      this.valueLocations[inner] = where;
      if (depth === 0) this.optionLocations[key] = { ...where };
      // A plain own property, as the evaluator's defineOwn makes ('__proto__' never gets here).
      object[key] = value;
      if (!this.take(COMMA) && !isPunctuator(this.t, this.k, CLOSE_BRACE)) return undefined;
    }
    return object;
  }
}

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' };

/**
 * A quoted string's value from its text between the quotes: the escapes of strict code (legacy
 * octal ones, which it forbids, and anything malformed are left to the parser: undefined).
 */
function cooked(text: string, start: number, end: number): string | undefined {
  let out = '';
  let from = start;
  for (let i = text.indexOf('\\', start); i >= 0 && i < end; i = text.indexOf('\\', from)) {
    out += text.slice(from, i);
    const c = text[i + 1]!;
    from = i + 2;
    if (c in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[c];
    else if (c === '\n' || c === '\u2028' || c === '\u2029') {
      // A line continuation: nothing.
    } else if (c === '0' && !isDigit(text.charCodeAt(from))) out += '\0';
    else if (c === 'x' || c === 'u') {
      const hex = c === 'x' ? /^[0-9a-fA-F]{2}/.exec(text.slice(from, from + 2)) : /^(?:[0-9a-fA-F]{4}|\{[0-9a-fA-F]{1,6}\})/.exec(text.slice(from, Math.min(end, from + 8)));
      if (!hex) return undefined;
      const code = parseInt(hex[0].replace(/[{}]/g, ''), 16);
      if (code > 0x10ffff) return undefined;
      out += String.fromCodePoint(code);
      from += hex[0].length;
    } else if (isDigit(c.charCodeAt(0)) || c === '\r') return undefined;
    else out += c;
  }
  return out + text.slice(from, end);
}

/** A number literal's value: decimal and hexadecimal forms without separators; undefined for the rest. */
function numberValue(text: string): number | undefined {
  if (!/^(?:(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][0-9]+)?|0[xX][0-9a-fA-F]{1,13})$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * The file's scan when it is the usual driver file (see the top of this file), without the
 * compiler; undefined when the parser must read it. `file`: the display path.
 */
export function scanLiterally(file: string, text: string): FileScan | undefined {
  if (!READABLE.test(file)) return undefined;
  const tokens = tokenize(text);
  if (!tokens || tokens.ats.length !== 1 || tokens.ats[0]! < 0) return undefined;
  const { kinds, starts, ends } = tokens;
  const atToken = tokens.ats[0]!;
  const word = (k: number) => wordAt(tokens, k);
  const punctuator = (k: number, code: number) => isPunctuator(tokens, k, code);

  const reader = new Reader(file, tokens, atToken);
  const local = reader.decoratorName();
  if (local === undefined) return undefined;
  // The name is bound once, by the import below, and used once, here: nothing else (a local
  // declaration, a parameter, another import, a re-export) may name it.
  let uses = 0;
  for (let k = 0; k < kinds.length; k++) if (kinds[k] === Kind.Identifier && ends[k]! - starts[k]! === local.length && text.startsWith(local, starts[k]!)) uses++;
  if (uses !== 2 || !importsBlockDriver(tokens, local)) return undefined;
  const open = reader.next;
  if (!punctuator(open, OPEN_BRACE)) return undefined;
  const options = reader.value('', 0);
  if (options === undefined) return undefined;
  const decoratorEnd = reader.closeCall();
  if (decoratorEnd === undefined) return undefined;

  // The class: `export [default] @dec class` or `@dec export [default] class`, at the top level,
  // where a statement starts (so it is a declaration, not a class expression).
  let before = atToken - 1;
  let after = reader.next;
  let exported = false;
  let isDefault = false;
  if (word(before) === 'default' && word(before - 1) === 'export') {
    exported = isDefault = true;
    before -= 2;
  } else if (word(before) === 'export') {
    exported = true;
    before--;
  }
  if (!exported && word(after) === 'export') {
    exported = true;
    after++;
    if (word(after) === 'default') {
      isDefault = true;
      after++;
    }
  }
  if (!exported || word(after) !== 'class') return undefined;
  if (before >= 0 && !punctuator(before, SEMICOLON) && !punctuator(before, CLOSE_BRACE)) {
    // After a statement ended by a line break (an import without a semicolon).
    if (kinds[before] === Kind.Punctuator || text.slice(ends[before], starts[before + 1]).search(/[\n\r]/) < 0) return undefined;
  }
  const name = word(after + 1);
  const className = name === undefined || name === 'extends' || name === 'implements' ? undefined : name;
  if (className === undefined && !isDefault) return undefined;
  const where = reader.at(starts[atToken]!, decoratorEnd);
  const found: FoundDecorator = {
    decorator: 'blockDriver',
    file,
    className: className ?? 'default',
    exportName: isDefault ? 'default' : className!,
    exported: true,
    optionLocations: reader.optionLocations,
    valueLocations: reader.valueLocations,
    location: { file, line: where.line, column: where.column },
    at: where,
    options: options as { [key: string]: ConstValue },
  };
  return { found: [found], diagnostics: [] };
}

/** Whether a top-level `import { blockDriver [as local] } from 'gen-modules/runtime'` binds `local` as a value. */
function importsBlockDriver(tokens: Tokens, local: string): boolean {
  const { text, kinds, starts, ends } = tokens;
  const word = (k: number) => wordAt(tokens, k);
  const punctuator = (k: number, code: number) => isPunctuator(tokens, k, code);
  for (const first of tokens.imports) {
    let k = first + 1;
    if (!punctuator(k++, OPEN_BRACE)) continue;
    let imported: string | undefined;
    for (;;) {
      if (punctuator(k, CLOSE_BRACE)) break;
      let name = word(k++);
      // `type X`: a type only (`type as X` and `type` alone are values named 'type').
      const typeOnly = name === 'type' && kinds[k] === Kind.Identifier && word(k) !== 'as';
      if (typeOnly) name = word(k++);
      if (name === undefined) return false;
      let as = name;
      if (word(k) === 'as') {
        as = word(k + 1) ?? '';
        k += 2;
      }
      if (as === local) {
        if (typeOnly) return false;
        imported = name;
      }
      if (!punctuator(k, COMMA)) break;
      k++;
    }
    if (!punctuator(k++, CLOSE_BRACE) || word(k++) !== 'from' || kinds[k] !== Kind.String) continue;
    if (imported === undefined) continue;
    return imported === 'blockDriver' && text.slice(starts[k]! + 1, ends[k]! - 1) === RUNTIME_MODULE;
  }
  return false;
}
