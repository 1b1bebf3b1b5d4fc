// Listing the files driver globs match. The usual patterns (`src/drivers/**/*.ts`, `{a,b}`, `?`,
// character classes) are matched by a direct walk of the folder they name, which costs a third of
// a general glob library on 10,000 files; anything else (negation, extglobs, dot folders, escapes)
// goes to tinyglobby. Both follow tinyglobby's rules: `*` and `**` do not match names starting
// with '.', node_modules is never entered, symbolic links are followed.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { escapeRegExp } from '../config/escape-regexp.js';

/** Files matching `patterns` and none of `ignore`, relative to `cwd` with forward slashes, unsorted. */
export async function listFiles(patterns: readonly string[], cwd: string, ignore: readonly string[]): Promise<string[]> {
  const compiled = patterns.map(compile);
  const ignored = ignore.map(compile);
  if (compiled.some((c) => !c) || ignored.some((c) => !c)) {
    // Loaded only when needed: the common patterns never pay for it.
    const { glob } = await import('tinyglobby');
    return glob([...patterns], { cwd, absolute: false, onlyFiles: true, ignore: ['**/node_modules/**', ...ignore] });
  }
  const found = new Set<string>();
  const walked = new Set<string>();
  for (const pattern of compiled as Compiled[]) {
    if (walked.has(pattern.base)) continue;
    walked.add(pattern.base);
    walk(join(cwd, pattern.base), pattern.base, (file) => {
      if ((compiled as Compiled[]).some((p) => p.regex.test(file)) && !(ignored as Compiled[]).some((p) => p.regex.test(file))) found.add(file);
    });
  }
  return [...found];
}

interface Compiled {
  /** The folder the pattern starts in ('' for the cwd), relative, forward slashes. */
  base: string;
  regex: RegExp;
}

/** A regular expression for a plain glob, or undefined when the pattern needs the general matcher. */
export function compile(pattern: string): Compiled | undefined {
  pattern = pattern.replace(/^\.\//, '');
  if (/[!+@\\]|\(|^\/|(^|\/)\.|\/\/|\{[^}]*\{/.test(pattern)) return undefined;
  const segments = pattern.split('/');
  if (segments.some((s) => s === '')) return undefined;
  const dynamic = segments.findIndex((s) => /[*?[\]{}]/.test(s));
  if (dynamic < 0) return undefined; // a plain path: let the general matcher handle existence
  const base = segments.slice(0, dynamic).join('/');
  let source = base ? `${escapeRegExp(base)}/` : '';
  const rest = segments.slice(dynamic);
  for (let i = 0; i < rest.length; i++) {
    const segment = rest[i]!;
    const last = i === rest.length - 1;
    if (segment === '**') {
      // Any number of folders, none starting with '.'.
      source += last ? '(?:[^/.][^/]*/)*[^/.][^/]*' : '(?:[^/.][^/]*/)*';
      continue;
    }
    const part = segmentSource(segment);
    if (part === undefined) return undefined;
    source += part + (last ? '' : '/');
  }
  return { base, regex: new RegExp(`^${source}$`) };
}

function segmentSource(segment: string): string | undefined {
  let out = '';
  let i = 0;
  // A name starting with '.' is matched only by a pattern starting with '.' (excluded above).
  if (segment[0] === '*' || segment[0] === '?' || segment[0] === '[' || segment[0] === '{') out += '(?!\\.)';
  while (i < segment.length) {
    const c = segment[i]!;
    if (c === '*') {
      if (segment[i + 1] === '*') return undefined;
      out += '[^/]*';
      i++;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) return undefined;
      const body = segment.slice(i + 1, end);
      if (!/^\^?[\w.-]+$/.test(body)) return undefined;
      out += `[${body}]`;
      i = end + 1;
    } else if (c === '{') {
      const end = segment.indexOf('}', i);
      if (end < 0) return undefined;
      const options = segment.slice(i + 1, end).split(',');
      const parts = options.map(segmentSource);
      if (parts.some((p) => p === undefined)) return undefined;
      out += `(?:${parts.map((p) => p!.replace('(?!\\.)', '')).join('|')})`;
      i = end + 1;
    } else if (c === '}' || c === ']') {
      return undefined;
    } else {
      out += escapeRegExp(c);
      i++;
    }
  }
  return out;
}

function walk(dir: string, rel: string, onFile: (file: string) => void, depth = 0): void {
  if (depth > 64) return;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const name = entry.name;
    if (name === 'node_modules' || name[0] === '.') continue;
    const path = rel ? `${rel}/${name}` : name;
    let isDirectory = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = statSync(join(dir, name), { throwIfNoEntry: false });
      isDirectory = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDirectory) walk(join(dir, name), path, onFile, depth + 1);
    else if (isFile) onFile(path);
  }
}
