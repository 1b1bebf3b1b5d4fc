// The names of esbuild's outputs. esbuild names every entry point through the one `entryNames`
// template, so the plugin gives it `[dir]` (for `drivers/`) and `[hash]`, and after the build
// renames the application's own entries back to what the user's template asked for.
import { basename, posix, resolve } from 'node:path';
import type { Metafile, PluginBuild } from 'esbuild';
import { escapeRegExp } from '../src/config/escape-regexp.js';
import type { OutputStore } from './output-store.js';
import { relativePosix } from './shared.js';

export type EntryPoints = NonNullable<PluginBuild['initialOptions']['entryPoints']>;
export type Entry = { in: string; out: string } | string;

export function entryList(entryPoints: EntryPoints | undefined): Entry[] {
  if (!entryPoints) return [];
  if (Array.isArray(entryPoints)) return [...entryPoints] as Entry[];
  return Object.entries(entryPoints).map(([out, file]) => ({ in: file, out }));
}

/**
 * The application's entries as the plugin gives them to esbuild. Glob patterns (esbuild expands a
 * `*` in an entry) are expanded here, so that every entry is a known file (the guard starts from
 * them, and a glob's files are renamed like any entry). When the user's template has no `[dir]`,
 * the one the plugin adds must not move them: each gets an `out` of its name alone, which is where
 * the user's template puts it, so renaming it back only drops the hash, in the same folder (moved
 * to another folder, its relative imports of shared chunks would break).
 */
export async function applicationEntries(entries: readonly Entry[], userTemplate: string, cwd: string): Promise<Entry[]> {
  const files: Entry[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string' && entry.includes('*')) {
      const { glob } = await import('tinyglobby');
      files.push(...(await glob(entry, { cwd, onlyFiles: true, expandDirectories: false })).sort());
    } else files.push(entry);
  }
  if (userTemplate.includes('[dir]')) return files;
  return files.map((entry) => (typeof entry === 'string' ? { in: entry, out: basename(entry).replace(/\.[^.]*$/, '') } : { in: entry.in, out: posix.basename(entry.out) }));
}

/** The user's entryNames with `[dir]` (for `drivers/`) and `[hash]` (for cache busting) added. */
export function lazyTemplate(user: string): string {
  let template = user;
  if (!template.includes('[dir]')) {
    const slash = template.lastIndexOf('/');
    template = `${template.slice(0, slash + 1)}[dir]/${template.slice(slash + 1)}`;
  }
  if (!template.includes('[hash]')) template = `${template}-[hash]`;
  return template;
}

interface TemplateParts {
  dir: string;
  name: string;
  hash: string;
}

/** Reads [dir], [name] and [hash] back out of a path made with `template`. */
function parseTemplate(template: string, path: string): TemplateParts | undefined {
  let pattern = '';
  const groups: (keyof TemplateParts)[] = [];
  for (const piece of template.split(/(\[dir\]\/|\[dir\]|\[name\]|\[hash\])/)) {
    if (piece === '[dir]/') {
      pattern += '(?:(.+)/)?';
      groups.push('dir');
    } else if (piece === '[dir]') {
      pattern += '(.*)';
      groups.push('dir');
    } else if (piece === '[name]') {
      pattern += '([^/]+?)';
      groups.push('name');
    } else if (piece === '[hash]') {
      pattern += '([A-Z0-9]{8})';
      groups.push('hash');
    } else pattern += escapeRegExp(piece);
  }
  const match = new RegExp(`^${pattern}$`).exec(path);
  if (!match) return undefined;
  const parts: TemplateParts = { dir: '', name: '', hash: '' };
  groups.forEach((g, i) => (parts[g] = match[i + 1] ?? ''));
  return parts;
}

function renderTemplate(template: string, parts: TemplateParts): string {
  return template
    .replace(/\[dir\]/g, parts.dir)
    .replace(/\[name\]/g, parts.name)
    .replace(/\[hash\]/g, parts.hash)
    .replace(/\/{2,}/g, '/')
    .replace(/^\//, '');
}

/**
 * Renames the application's entries from the lazy template back to the user's `entryNames`: each
 * entry's JavaScript output, the CSS bundle beside it, and a CSS entry's output, with their maps.
 */
export function restoreEntryNames(
  metafile: Metafile,
  cwd: string,
  abs: (path: string) => string,
  outdir: string,
  userEntries: ReadonlySet<string>,
  userTemplate: string,
  template: string,
  extension: string,
  store: OutputStore,
): void {
  if (userTemplate === template) return;
  const outputs: { output: string; extension: string }[] = [];
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (!info.entryPoint || !userEntries.has(abs(info.entryPoint))) continue;
    if (output.endsWith(extension)) outputs.push({ output, extension });
    else if (output.endsWith('.css')) outputs.push({ output, extension: '.css' });
    if (info.cssBundle !== undefined && metafile.outputs[info.cssBundle]) outputs.push({ output: info.cssBundle, extension: '.css' });
  }
  const renamed = new Map<string, string>();
  for (const { output, extension: ext } of outputs) {
    const from = abs(output);
    const tail = relativePosix(outdir, from);
    // [ext] is the output's own extension, without the dot ('js', 'css').
    const kind = ext.replace(/^.*\./, '');
    const parts = parseTemplate(template.replace(/\[ext\]/g, kind), tail.slice(0, -ext.length));
    if (!parts) continue;
    const to = resolve(outdir, `${renderTemplate(userTemplate.replace(/\[ext\]/g, kind), parts)}${ext}`);
    if (to === from) continue;
    const target = relativePosix(cwd, to);
    store.rename(from, to);
    const map = store.read(`${from}.map`);
    if (map !== undefined) {
      store.rename(`${from}.map`, `${to}.map`);
      const text = new TextDecoder().decode(store.read(to)!);
      const base = to.slice(to.lastIndexOf('/') + 1);
      // JavaScript's `//# sourceMappingURL=x` or CSS's `/*# sourceMappingURL=x */`, last in the file.
      store.write(to, text.replace(/((?:\/\/|\/\*)# sourceMappingURL=)[^\s*]*([^\n]*\n?)$/, `$1${base}.map$2`));
      delete metafile.outputs[`${output}.map`];
      metafile.outputs[`${target}.map`] = { bytes: map.length, inputs: {}, imports: [], exports: [] };
    }
    const info = metafile.outputs[output]!;
    delete metafile.outputs[output];
    metafile.outputs[target] = info;
    renamed.set(output, target);
  }
  // The JavaScript outputs name their CSS bundle by path.
  for (const info of Object.values(metafile.outputs)) {
    const css = info.cssBundle === undefined ? undefined : renamed.get(info.cssBundle);
    if (css !== undefined) info.cssBundle = css;
  }
}

/** The folder that holds all these absolute files (no trailing separator); undefined for none. */
export function commonDir(files: readonly string[]): string | undefined {
  if (files.length === 0) return undefined;
  return commonFolder(files).replace(/[\\/]$/, '') || '/';
}

/** The longest folder prefix (ending in a separator) shared by these absolute paths. */
export function commonFolder(files: readonly string[]): string {
  let prefix = files[0] ?? '';
  for (const file of files) {
    let i = 0;
    while (i < prefix.length && i < file.length && prefix[i] === file[i]) i++;
    prefix = prefix.slice(0, i);
  }
  return prefix.slice(0, Math.max(prefix.lastIndexOf('/'), prefix.lastIndexOf('\\')) + 1);
}

