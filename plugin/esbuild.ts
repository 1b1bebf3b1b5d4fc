// gen-modules/esbuild: regenerates the table at build start, makes every module driver and probe
// module its own entry so it lands in `drivers/<name>-<hash>.js`, and writes the build manifest.
// esbuild only honours extra entry points added during setup, and names them with the one
// `entryNames` template, so the application's own entries are renamed back to it afterwards.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import type { Message, Metafile, OutputFile, Plugin, PluginBuild } from 'esbuild';
import {
  buildIdOf,
  integrityOf,
  prepareBuild,
  staticClosure,
  stringifyManifest,
  toBundlerMessages,
  validatePluginOptions,
  type BuildManifest,
  type GenModulesPluginOptions,
  type LazyEntry,
  type ManifestChunk,
  type PreparedBuild,
} from './shared.js';

export type { GenModulesPluginOptions } from './shared.js';

const HASHED = '[dir]/[name]-[hash]';

export default function genModules(options?: GenModulesPluginOptions): Plugin {
  const validated = validatePluginOptions(options, 'esbuild');
  return {
    name: 'gen-modules',
    async setup(build: PluginBuild) {
      const initial = build.initialOptions;
      const cwd = initial.absWorkingDir ?? process.cwd();
      let prepared: PreparedBuild | undefined = await prepareBuild(validated, cwd);
      const userEntryNames = initial.entryNames ?? '[dir]/[name]';
      const userEntries = entryList(initial.entryPoints);
      initial.entryNames = HASHED;
      initial.metafile = true;
      if (initial.format === 'esm' || initial.format === undefined) initial.splitting = true;
      initial.entryPoints = [...userEntries, ...prepared.lazyEntries.map((e) => ({ in: e.file, out: e.out }))];
      const lazy = prepared.lazyEntries;

      build.onStart(async () => {
        // The first build uses what setup generated; rebuilds regenerate (drivers may have changed).
        const current = prepared ?? (await prepareBuild(validated, cwd));
        prepared = undefined;
        const errors = toBundlerMessages(current.loaded, current.result).map((m) => ({
          text: m.text,
          location: { file: relative(cwd, m.file), line: m.line, column: m.column - 1, lineText: m.lineText ?? '' },
          notes: m.notes.map((n) => ({ text: n.text, location: { file: relative(cwd, n.file), line: n.line, column: n.column - 1 } })),
        }));
        return { errors };
      });

      build.onEnd((result) => {
        if (result.errors.length > 0 || !result.metafile) return;
        const outdir = resolve(cwd, initial.outdir ?? dirname(initial.outfile ?? 'out.js'));
        const renames = restoreEntryNames(result.metafile, userEntries, userEntryNames, cwd, outdir, result.outputFiles);
        const manifest = makeManifest(result.metafile, lazy, cwd, outdir, renames, result.outputFiles);
        const file = resolve(outdir, validated.manifest ?? 'gen-modules-manifest.json');
        const text = stringifyManifest(manifest);
        if (initial.write === false) {
          result.outputFiles?.push(outputFile(file, text));
        } else {
          writeFileSync(file, text);
        }
      });
    },
  };
}

type EntryPoints = NonNullable<PluginBuild['initialOptions']['entryPoints']>;

function entryList(entryPoints: EntryPoints | undefined): ({ in: string; out: string } | string)[] {
  if (!entryPoints) return [];
  if (Array.isArray(entryPoints)) return [...entryPoints] as ({ in: string; out: string } | string)[];
  return Object.entries(entryPoints).map(([out, file]) => ({ in: file, out }));
}

/** Renames the application's entries from `name-HASH.js` back to what `entryNames` asked for. */
function restoreEntryNames(
  metafile: Metafile,
  userEntries: readonly ({ in: string; out: string } | string)[],
  userEntryNames: string,
  cwd: string,
  outdir: string,
  outputFiles: OutputFile[] | undefined,
): Map<string, string> {
  // Only the application's declared entries: dynamic-import targets are entries in the metafile too.
  const declared = new Set(userEntries.map((e) => resolve(cwd, typeof e === 'string' ? e : e.in)));
  const renames = new Map<string, string>();
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (!info.entryPoint || !declared.has(resolve(cwd, info.entryPoint)) || output.endsWith('.map')) continue;
    const absolute = resolve(cwd, output);
    const match = /^(.*)-[A-Z0-9]{8}(\.[^./]+)$/.exec(absolute);
    if (!match || userEntryNames.includes('[hash]')) continue;
    const target = `${match[1]}${match[2]}`;
    renames.set(absolute, target);
  }
  for (const [from, to] of renames) {
    if (outputFiles) {
      for (const file of outputFiles) {
        if (file.path === from) (file as { path: string }).path = to;
      }
    }
    if (existsSync(from)) renameSync(from, to);
    const map = `${from}.map`;
    if (existsSync(map)) {
      renameSync(map, `${to}.map`);
      const text = readFileSync(to, 'utf8');
      writeFileSync(to, text.replace(/\/\/# sourceMappingURL=[^\n]*$/, `//# sourceMappingURL=${relative(dirname(to), `${to}.map`)}`));
    }
    const key = relative(cwd, from);
    const info = metafile.outputs[key];
    if (info) {
      delete metafile.outputs[key];
      metafile.outputs[relative(cwd, to)] = info;
    }
  }
  void outdir;
  return renames;
}

function makeManifest(
  metafile: Metafile,
  lazy: readonly LazyEntry[],
  cwd: string,
  outdir: string,
  renames: Map<string, string>,
  outputFiles: OutputFile[] | undefined,
): BuildManifest {
  const rel = (output: string) => relative(outdir, resolve(cwd, output)).split('\\').join('/');
  const byEntry = new Map<string, string>();
  const entries: string[] = [];
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (output.endsWith('.map') || !info.entryPoint) continue;
    byEntry.set(resolve(cwd, info.entryPoint), output);
  }
  const lazyFiles = new Set(lazy.map((e) => resolve(e.file)));
  for (const [file, output] of byEntry) if (!lazyFiles.has(file)) entries.push(output);
  const edges = (output: string) =>
    (metafile.outputs[output]?.imports ?? []).filter((i) => i.kind === 'import-statement' && !i.external).map((i) => relative(cwd, resolve(cwd, i.path)));
  const entryImports = new Set(entries.flatMap((e) => staticClosure(e, edges)));

  const chunks: Record<string, ManifestChunk> = {};
  for (const output of Object.keys(metafile.outputs)) {
    if (output.endsWith('.map')) continue;
    const absolute = resolve(cwd, output);
    const bytes = outputFiles?.find((f) => f.path === absolute)?.contents ?? (existsSync(absolute) ? readFileSync(absolute) : new Uint8Array());
    chunks[rel(output)] = { file: rel(output), bytes: bytes.length, integrity: integrityOf(bytes) };
  }
  const manifest: BuildManifest = {
    buildId: buildIdOf(chunks),
    bundler: 'esbuild',
    entries: entries.map(rel).sort(),
    entryImports: [...entryImports].map(rel).sort(),
    drivers: {},
    probes: {},
    chunks,
  };
  for (const entry of lazy) {
    const output = byEntry.get(resolve(entry.file));
    if (!output) continue;
    const imports = staticClosure(output, edges).filter((o) => !entryImports.has(o)).map(rel);
    if (entry.kind === 'driver') manifest.drivers[entry.name] = { kind: entry.driverKind ?? 'format', state: 'module', chunk: rel(output), imports };
    else manifest.probes[entry.name] = { chunk: rel(output), imports };
  }
  void renames;
  return manifest;
}

function outputFile(path: string, text: string): OutputFile {
  const contents = new TextEncoder().encode(text);
  return { path, contents, text, hash: '' } as OutputFile;
}

export type { Message };
