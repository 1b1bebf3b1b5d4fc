// The names of esbuild's outputs. esbuild names every entry point through the one `entryNames`
// template, so the plugin gives it `[dir]` (for `drivers/`) and `[hash]`, and after the build
// renames the application's own entries back to what the user's template asked for.
import { resolve } from 'node:path';
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

/** Renames the application's entries from the lazy template back to the user's `entryNames`. */
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
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (!info.entryPoint || !userEntries.has(abs(info.entryPoint)) || !output.endsWith(extension)) continue;
    const from = abs(output);
    const tail = relativePosix(outdir, from);
    const parts = parseTemplate(template, tail.slice(0, -extension.length));
    if (!parts) continue;
    const to = resolve(outdir, `${renderTemplate(userTemplate, parts)}${extension}`);
    if (to === from) continue;
    const target = relativePosix(cwd, to);
    store.rename(from, to);
    const map = store.read(`${from}.map`);
    if (map !== undefined) {
      store.rename(`${from}.map`, `${to}.map`);
      const text = new TextDecoder().decode(store.read(to)!);
      const base = to.slice(to.lastIndexOf('/') + 1);
      store.write(to, text.replace(/(\/\/# sourceMappingURL=)[^\n]*(\n?)$/, `$1${base}.map$2`));
      delete metafile.outputs[`${output}.map`];
      metafile.outputs[`${target}.map`] = { bytes: map.length, inputs: {}, imports: [], exports: [] };
    }
    delete metafile.outputs[output];
    metafile.outputs[target] = info;
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

