// npm run bench:build — the cost of the gen-modules bundler plugins on a synthetic application with
// 200 drivers (about 16 KB of TypeScript each, a helper module per driver and shared helpers):
// 1. build time with the plugin vs the same application built with plain dynamic imports and no
//    plugin, per bundler (target: at most 1.15x). Both builds use the same table file and the same
//    TypeScript handling; the plugin build also rescans the drivers and regenerates the table,
//    makes the manifest and runs the laziness guard, which is what is being measured. Each bundler:
//    one warm-up pair, then RUNS alternating pairs; the medians are compared.
// 2. entry bytes (entry chunk plus the chunks it imports statically) with 10 vs 200 drivers
//    (target: grows only by the table entries);
// 3. Node start-up to the first read of an image: lazy build vs eager build (every driver builtin).
// Writes bench/results/build.json and prints a markdown table. Env: RUNS (default 3), DRIVERS (200).
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildManifest } from '../src/runtime/manifest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench/tmp/build');
const runtimeEntry = join(root, 'src/runtime/index.ts');
const RUNS = Number(process.env.RUNS ?? 3);
const DRIVERS = Number(process.env.DRIVERS ?? 200);
type Bundler = 'esbuild' | 'rollup' | 'vite';

// ---------------------------------------------------------------------------------------------
// The synthetic application.
// ---------------------------------------------------------------------------------------------

const pad = (n: number) => String(n).padStart(3, '0');
const magicOf = (n: number) => `F${pad(n)}MAGC`;

/** Deterministic pseudo-random numbers, so every run builds the same sources. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s;
  };
}

/** ~14 KB of format helper code: lookup tables and small decoders, different for each driver. */
function helperSource(n: number): string {
  const next = rng(n + 1);
  const lines = [`// Format helpers of synthetic driver ${n}.`, `import { readU32, clamp } from '../../shared/bytes.js';`, ''];
  lines.push(`export const TABLE_${n} = [${Array.from({ length: 256 }, () => next() & 0xffff).join(', ')}];`, '');
  for (let f = 0; f < 28; f++) {
    const a = next() % 97;
    const b = next() % 89;
    lines.push(
      `export function decode${f}(data: Uint8Array, offset: number): number {`,
      `  let acc = ${a};`,
      `  for (let i = 0; i < ${8 + (f % 8)}; i++) {`,
      `    const byte = data[clamp(offset + i, 0, data.length - 1)] ?? 0;`,
      `    acc = (acc * ${b + 3} + TABLE_${n}[(byte + i) & 0xff]!) >>> 0;`,
      `    if ((acc & ${1 << (f % 16)}) !== 0) acc ^= readU32(data, clamp(offset, 0, Math.max(0, data.length - 4)));`,
      `  }`,
      `  return acc % ${1000 + f * 7};`,
      `}`,
      '',
    );
  }
  lines.push(`export function decodeAll(data: Uint8Array): number[] {`, `  return [${Array.from({ length: 28 }, (_, f) => `decode${f}(data, ${f * 3})`).join(', ')}];`, `}`, '');
  return lines.join('\n');
}

function driverSource(n: number): string {
  return `import { blockDriver } from 'gen-modules/runtime';
import { decodeAll } from '../formats/fmt${pad(n)}/codec.js';
import { readU32 } from '../shared/bytes.js';

@blockDriver({ format: 'fmt${pad(n)}', probe: { score: 100, match: [{ minLength: 8 }, { at: 0, bytes: '${magicOf(n)}' }] } })
export class Fmt${pad(n)}Driver {
  read(data: Uint8Array, offset: number, length: number): Uint8Array {
    const out = data.slice(offset, offset + length);
    const checks = decodeAll(out);
    out[0] = (checks[0]! ^ readU32(data, 8)) & 0xff;
    return out;
  }
}
`;
}

const SHARED = `export function readU32(data: Uint8Array, offset: number): number {
  return ((data[offset] ?? 0) | ((data[offset + 1] ?? 0) << 8) | ((data[offset + 2] ?? 0) << 16) | ((data[offset + 3] ?? 0) << 24)) >>> 0;
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}
`;

const MAIN = `import { readFileSync, existsSync } from 'node:fs';
import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';
import { driverTable } from './generated/drivers.gen.js';

const manifestUrl = new URL('./gen-modules-manifest.json', import.meta.url);
const manifest = existsSync(manifestUrl) ? parseManifest(readFileSync(manifestUrl, 'utf8')) : undefined;
const registry = createDriverRegistry(driverTable, manifest ? { manifest, baseUrl: new URL('./', import.meta.url) } : {});
const file = process.argv[2]!;
const data = new Uint8Array(readFileSync(file));
const probe = await registry.probe({ head: data.subarray(0, 512), tail: new Uint8Array(0), size: data.length, filename: file });
const Driver = await registry.load<new () => { read(data: Uint8Array, offset: number, length: number): Uint8Array }>(probe.format);
const first = new Driver().read(data, 0, 512);
console.log(JSON.stringify({ format: probe.format, firstByte: first[0], firstReadAt: performance.now(), loaded: registry.loadedDrivers() }));
`;

/** Writes the application with `count` drivers; `eager` makes every driver builtin. */
function writeApp(dir: string, count: number, eager: boolean): void {
  rmSync(dir, { recursive: true, force: true });
  const write = (file: string, text: string) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  write('gen-modules.config.json', JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts', ...(eager ? { defaultState: 'builtin' } : {}) }, null, 2));
  // Legacy decorators: Vite's own transform (Oxc) lowers those, so the baseline Vite build (no
  // plugin) and the plugin build do the same TypeScript work.
  write('tsconfig.json', JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', experimentalDecorators: true, strict: true } }, null, 2));
  write('src/shared/bytes.ts', SHARED);
  write('src/main.ts', MAIN);
  for (let n = 0; n < count; n++) {
    write(`src/drivers/fmt${pad(n)}.ts`, driverSource(n));
    write(`src/formats/fmt${pad(n)}/codec.ts`, helperSource(n));
  }
}

// ---------------------------------------------------------------------------------------------
// Builds.
// ---------------------------------------------------------------------------------------------

/** TypeScript for rollup in both runs (so the difference is the gen-modules plugin alone). */
function rollupTypeScript() {
  return {
    name: 'bench-typescript',
    async resolveId(source: string, importer: string | undefined) {
      if (source === 'gen-modules/runtime') return runtimeEntry;
      if (importer && source.startsWith('.') && source.endsWith('.js')) return join(dirname(importer), source).replace(/\.js$/, '.ts');
      return null;
    },
    async transform(code: string, id: string) {
      if (!id.endsWith('.ts')) return null;
      const { transform } = await import('esbuild');
      const result = await transform(code, { loader: 'ts', target: 'es2022', format: 'esm', tsconfigRaw: { compilerOptions: { experimentalDecorators: true } } });
      return { code: result.code, map: null };
    },
  };
}

async function build(bundler: Bundler, app: string, outdir: string, withPlugin: boolean): Promise<number> {
  rmSync(outdir, { recursive: true, force: true });
  const entry = join(app, 'src/main.ts');
  const start = performance.now();
  if (bundler === 'esbuild') {
    const { build: esbuild } = await import('esbuild');
    const plugins = withPlugin ? [(await import('../plugin/esbuild.js')).default({ cwd: app })] : [];
    await esbuild({
      absWorkingDir: app,
      entryPoints: { main: entry },
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      alias: { 'gen-modules/runtime': runtimeEntry },
      logLevel: 'silent',
      plugins,
    });
  } else if (bundler === 'rollup') {
    const { rollup } = await import('rollup');
    const plugins = [rollupTypeScript(), ...(withPlugin ? [(await import('../plugin/rollup.js')).default({ cwd: app })] : [])];
    const bundle = await rollup({ input: { main: entry }, external: [/^node:/], plugins, onwarn: () => {} });
    await bundle.write({ dir: outdir, format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' });
    await bundle.close();
  } else {
    const { build: vite } = await import('vite');
    const plugins = withPlugin ? [(await import('../plugin/vite.js')).default({ cwd: app, typescript: false })] : [];
    await vite({
      configFile: false,
      root: app,
      logLevel: 'silent',
      resolve: { alias: { 'gen-modules/runtime': runtimeEntry } },
      plugins,
      ssr: { noExternal: true },
      build: {
        ssr: true,
        outDir: outdir,
        emptyOutDir: true,
        minify: false,
        target: 'node20',
        rollupOptions: { input: { main: entry }, output: { entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' } },
      },
    });
  }
  return performance.now() - start;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Starts `node main.mjs IMAGE` `times` times; returns the median time to the first read (ms since process start) and wall time. */
function startup(main: string, image: string, times: number): { firstReadMs: number; wallMs: number; loaded: string[] } {
  const firsts: number[] = [];
  const walls: number[] = [];
  let loaded: string[] = [];
  for (let i = 0; i < times; i++) {
    const start = performance.now();
    const run = spawnSync(process.execPath, [main, image], { encoding: 'utf8' });
    walls.push(performance.now() - start);
    if (run.status !== 0) throw new Error(`${main} failed: ${run.stderr}`);
    const result = JSON.parse(run.stdout) as { firstReadAt: number; loaded: string[] };
    firsts.push(result.firstReadAt);
    loaded = result.loaded;
  }
  return { firstReadMs: round(median(firsts), 1), wallMs: round(median(walls), 1), loaded };
}

const manifestOf = (outdir: string) => JSON.parse(readFileSync(join(outdir, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
const bytesOf = (file: string) => readFileSync(file).length;

// ---------------------------------------------------------------------------------------------

const apps = { lazy: join(work, `app-${DRIVERS}`), small: join(work, 'app-10'), eager: join(work, `app-${DRIVERS}-eager`) };
writeApp(apps.lazy, DRIVERS, false);
writeApp(apps.small, 10, false);
writeApp(apps.eager, DRIVERS, true);
const sourceBytes = (() => {
  let total = 0;
  for (let n = 0; n < DRIVERS; n++) total += bytesOf(join(apps.lazy, `src/drivers/fmt${pad(n)}.ts`)) + bytesOf(join(apps.lazy, `src/formats/fmt${pad(n)}/codec.ts`));
  return total;
})();

const importStart = performance.now();
await import('../plugin/esbuild.js');
const pluginImportMs = round(performance.now() - importStart);

// 1. Build time, per bundler.
const buildTimes: Record<string, { plugin: number[]; plain: number[]; ratio: number }> = {};
for (const bundler of ['esbuild', 'rollup', 'vite'] as const) {
  const outPlugin = join(work, `out-${bundler}-plugin`);
  const outPlain = join(work, `out-${bundler}-plain`);
  // Warm-up pair (also writes the table the plain build uses).
  await build(bundler, apps.lazy, outPlugin, true);
  await build(bundler, apps.lazy, outPlain, false);
  const plugin: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    plain.push(await build(bundler, apps.lazy, outPlain, false));
    plugin.push(await build(bundler, apps.lazy, outPlugin, true));
  }
  const manifest = manifestOf(outPlugin);
  const lazyChunks = Object.values(manifest.drivers).filter((d) => d.chunk?.startsWith('drivers/')).length;
  if (lazyChunks !== DRIVERS) throw new Error(`${bundler}: expected ${DRIVERS} driver chunks, got ${lazyChunks}`);
  buildTimes[bundler] = { plugin: plugin.map((t) => round(t)), plain: plain.map((t) => round(t)), ratio: round(median(plugin) / median(plain), 3) };
  console.error(`${bundler}: plugin ${plugin.map(round).join(', ')} ms, plain ${plain.map(round).join(', ')} ms`);
}

// Where the plugin's time goes: regenerating the table (config, scan of every driver file, probe
// compilation, emit) with a fresh scanner, as every build does.
const { prepareBuild } = await import('../plugin/shared.js');
const regenerate: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const start = performance.now();
  await prepareBuild({ cwd: apps.lazy }, apps.lazy);
  regenerate.push(performance.now() - start);
}
const regenerateMs = round(median(regenerate));

// 2. Entry bytes with 10 vs DRIVERS drivers (esbuild builds with the plugin).
const outSmall = join(work, 'out-esbuild-10');
await build('esbuild', apps.small, outSmall, true);
const eagerBytes = (outdir: string) => {
  const m = manifestOf(outdir);
  return [...m.entries, ...m.entryImports].reduce((sum, f) => sum + m.chunks[f]!.bytes, 0);
};
const entryBytes = { small: eagerBytes(outSmall), large: eagerBytes(join(work, 'out-esbuild-plugin')) };
const tableBytes = { small: bytesOf(join(apps.small, 'src/generated/drivers.gen.ts')), large: bytesOf(join(apps.lazy, 'src/generated/drivers.gen.ts')) };
const perDriver = {
  entryBytes: round((entryBytes.large - entryBytes.small) / (DRIVERS - 10), 1),
  tableSourceBytes: round((tableBytes.large - tableBytes.small) / (DRIVERS - 10), 1),
  driverSourceBytes: round(sourceBytes / DRIVERS),
};

// 3. Node start-up to the first read: lazy vs eager (every driver builtin), esbuild builds.
const outEager = join(work, 'out-esbuild-eager');
await build('esbuild', apps.eager, outEager, true);
const image = join(work, 'image.bin');
const chosen = Math.floor(DRIVERS * 0.7);
const imageBytes = new Uint8Array(64 * 1024);
const fill = rng(7);
for (let i = 0; i < imageBytes.length; i++) imageBytes[i] = fill() & 0xff;
imageBytes.set(new TextEncoder().encode(magicOf(chosen)), 0);
writeFileSync(image, imageBytes);
startup(join(work, 'out-esbuild-plugin/main.mjs'), image, 1); // warm the file cache
startup(join(outEager, 'main.mjs'), image, 1);
const lazyStart = startup(join(work, 'out-esbuild-plugin/main.mjs'), image, 7);
const eagerStart = startup(join(outEager, 'main.mjs'), image, 7);
if (lazyStart.loaded.join() !== `fmt${pad(chosen)}` || eagerStart.loaded.length !== 0) throw new Error('unexpected loads');
const eagerEntry = manifestOf(outEager);

const results = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverage: (await import('node:os')).loadavg().map((l) => round(l, 2)) },
  app: { drivers: DRIVERS, sourceBytes, runs: RUNS, decorators: 'experimentalDecorators (so Vite without the plugin lowers them too)' },
  pluginImportMs,
  tableRegenerationMs: regenerateMs,
  buildTimeMs: Object.fromEntries(Object.entries(buildTimes).map(([b, t]) => [b, { withPlugin: t.plugin, plainDynamicImports: t.plain, medianRatio: t.ratio, target: 1.15, met: t.ratio <= 1.15 }])),
  entryBytes: {
    drivers10: entryBytes.small,
    [`drivers${DRIVERS}`]: entryBytes.large,
    growthPerDriver: perDriver.entryBytes,
    tableSourceBytesPerDriver: perDriver.tableSourceBytes,
    driverSourceBytesPerDriver: perDriver.driverSourceBytes,
    met: perDriver.entryBytes <= perDriver.tableSourceBytes * 1.2,
  },
  startupToFirstReadMs: {
    lazy: lazyStart.firstReadMs,
    eager: eagerStart.firstReadMs,
    ratio: round(lazyStart.firstReadMs / eagerStart.firstReadMs, 3),
    wallLazy: lazyStart.wallMs,
    wallEager: eagerStart.wallMs,
    eagerEntryBytes: eagerBytes(outEager),
    eagerChunks: Object.keys(eagerEntry.chunks).length,
  },
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/build.json'), `${JSON.stringify(results, null, 2)}\n`);

const rows = [
  `| measure | value | target |`,
  `|---|---|---|`,
  ...(['esbuild', 'rollup', 'vite'] as const).map((b) => {
    const t = buildTimes[b]!;
    return `| ${b} build, plugin / plain import() (median of ${RUNS}) | ${t.ratio}x (${round(median(t.plugin))} / ${round(median(t.plain))} ms) | <= 1.15x ${t.ratio <= 1.15 ? 'met' : 'NOT met'} |`;
  }),
  `| entry bytes, 10 -> ${DRIVERS} drivers | ${entryBytes.small} -> ${entryBytes.large} B (+${perDriver.entryBytes} B/driver; table source +${perDriver.tableSourceBytes} B/driver; a driver's code is ${perDriver.driverSourceBytes} B) | table entries only ${results.entryBytes.met ? 'met' : 'NOT met'} |`,
  `| Node start-up to first read, lazy / eager | ${results.startupToFirstReadMs.ratio}x (${lazyStart.firstReadMs} / ${eagerStart.firstReadMs} ms) | lower is better |`,
  `| of which: regenerating the table (scan of ${DRIVERS} driver files), per build | ${regenerateMs} ms | |`,
  `| gen-modules/esbuild module import (ts-morph etc.) | ${pluginImportMs} ms | once per process |`,
];
console.log(rows.join('\n'));
console.log(`\n${cpus().length} cores, load average ${results.machine.loadAverage.join(' ')}; results in bench/results/build.json`);
