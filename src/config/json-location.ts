// Where a value sits in a config file's text, so that a config error can say `file:line:col`.
// JSON is walked by a small position-tracking parser; a TypeScript config is searched for the key
// (best effort: the first `key:` after the parent key).
import { escapeRegExp } from './escape-regexp.js';

export interface TextPosition {
  line: number;
  column: number;
  length: number;
}

export type ConfigPath = readonly (string | number)[];

/** Position of the value at `path` (or of its key, when `at` is 'key'); undefined when not found. */
export function locateInJson(text: string, path: ConfigPath, at: 'key' | 'value' = 'value'): TextPosition | undefined {
  const found = new JsonWalker(withoutBom(text)).find(path, at);
  return found === undefined ? undefined : toPosition(text, found.start, found.end - found.start);
}

/** The text with a leading byte-order mark read as a space (same length, so positions hold). */
export function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? ` ${text.slice(1)}` : text;
}

/** Best-effort position of `path` in a TypeScript (or JavaScript) config. */
export function locateInScript(text: string, path: ConfigPath): TextPosition | undefined {
  let from = 0;
  let last: { start: number; length: number } | undefined;
  for (const segment of path) {
    if (typeof segment === 'number') continue;
    const escaped = escapeRegExp(segment);
    const pattern = new RegExp(`(?:^|[\\s{,])(?:${escaped}|'${escaped}'|"${escaped}")\\s*:`, 'g');
    pattern.lastIndex = from;
    const match = pattern.exec(text);
    if (!match) break;
    const start = match.index + match[0].search(/['"\w$]/);
    last = { start, length: segment.length };
    from = match.index + match[0].length;
  }
  return last && toPosition(text, last.start, last.length);
}

export function toPosition(text: string, offset: number, length = 1): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, length: Math.max(1, length) };
}

/** A path no value matches (NaN equals no key and no index). */
const NOWHERE: ConfigPath = [Number.NaN];

interface Span {
  start: number;
  end: number;
}

class JsonWalker {
  private i = 0;
  constructor(private readonly text: string) {}

  find(path: ConfigPath, at: 'key' | 'value'): Span | undefined {
    try {
      this.i = 0;
      return this.value(path, at, undefined);
    } catch {
      return undefined;
    }
  }

  /** Parses one value; returns the span of the target when it lies in (or is) this value. */
  private value(path: ConfigPath, at: 'key' | 'value', key: Span | undefined): Span | undefined {
    this.skip();
    const start = this.i;
    const c = this.text[this.i];
    let found: Span | undefined;
    if (c === '{') {
      this.i++;
      this.skip();
      if (this.text[this.i] === '}') this.i++;
      else {
        for (;;) {
          this.skip();
          const keyStart = this.i;
          const name = this.string();
          const keySpan = { start: keyStart, end: this.i };
          this.skip();
          this.expect(':');
          const inner = path.length > 0 && path[0] === name ? this.value(path.slice(1), at, keySpan) : this.value(NOWHERE, at, undefined);
          found ??= inner;
          this.skip();
          if (this.text[this.i] === ',') this.i++;
          else {
            this.expect('}');
            break;
          }
        }
      }
    } else if (c === '[') {
      this.i++;
      this.skip();
      if (this.text[this.i] === ']') this.i++;
      else {
        for (let index = 0; ; index++) {
          const inner = path.length > 0 && path[0] === index ? this.value(path.slice(1), at, undefined) : this.value(NOWHERE, at, undefined);
          found ??= inner;
          this.skip();
          if (this.text[this.i] === ',') this.i++;
          else {
            this.expect(']');
            break;
          }
        }
      }
    } else if (c === '"') {
      this.string();
    } else {
      const match = /^(?:true|false|null|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(this.text.slice(this.i, this.i + 64));
      if (!match) throw new Error('bad JSON');
      this.i += match[0].length;
    }
    if (path.length === 0) return at === 'key' && key ? key : { start, end: this.i };
    return found;
  }

  private string(): string {
    this.expect('"');
    const start = this.i;
    while (this.i < this.text.length && this.text[this.i] !== '"') this.i += this.text[this.i] === '\\' ? 2 : 1;
    const raw = this.text.slice(start - 1, this.i + 1);
    this.expect('"');
    return JSON.parse(raw) as string;
  }

  private skip(): void {
    while (this.i < this.text.length && /\s/.test(this.text[this.i]!)) this.i++;
  }

  private expect(c: string): void {
    if (this.text[this.i] !== c) throw new Error(`expected ${c}`);
    this.i++;
  }
}
