// npm run bench:build — the cost of the gen-modules bundler plugins on a synthetic application with
// 200 drivers (about 16 KB of TypeScript each, a helper module per driver and shared helpers):
// 1. build time with the plugin vs the same application built with plain dynamic imports and no
//    plugin, per bundler (target: at most 1.15x). Both builds use the same table file and the same
//    TypeScript handling; the plugin build also rescans the drivers and regenerates the table (a
//    fresh plugin every build), makes the manifest and runs the laziness guard, which is what is
//    being measured, in three situations: sources unchanged since the last build (the scan cache in
//    the app's node_modules/.cache answers), one driver file edited since (that file scanned
//    again), and every driver file scanned (GEN_MODULES_CACHE=0).
//    Per bundler: two warm-up rounds, then RUNS rounds of the four builds, order rotating, in one
//    warm process, each timed build after the same untimed plain build (see compareVariants);
//    medians, the quartiles, the overhead in ms (difference of the medians). The
//    plugins are the published entry points (dist/, built first), as a user's build imports them.
//    The target is judged on the paired ratio: each plugin build over the plain build of the same
//    round (seconds apart), the median of those ratios. This machine is shared: other jobs move a
//    plain esbuild build between 230 and 480 ms within one run, in phases longer than a round, so
//    the ratio of the two medians also measures which builds happened to fall into busy phases
//    (one run: medians 1.155x, paired 1.09x; overhead of the medians +48 ms, of the pairs +30 ms).
//    Both are reported.
//    For esbuild also: where the plugin's time goes (setup = config + scan + table, onEnd = guard,
//    build id, SRI, manifest) and the same comparison in a fresh Node process per build (what a
//    one-off `node build.mjs` costs: the plugin's import, TypeScript's load and a cold scan), and
//    rebuilds of an esbuild context after one driver edit each (watch mode, a dev loop).
// 2. entry bytes (entry chunk plus the chunks it imports statically) with 10 vs 200 drivers
//    (target: grows only by the table entries);
// 3. Node start-up to the first read of an image: lazy build vs eager build (every driver builtin);
// 4. the import of each published plugin entry point in a fresh Node process.
// Writes bench/results/build.json and prints a markdown table. The machine may be busy: the load
// average is recorded before and after each bundler. Env: RUNS (pairs per bundler; default
// esbuild 25, vite 11, rollup 5), COLD_RUNS (default 5), BUNDLERS (default esbuild,rollup,vite),
// DRIVERS (200). Runs with RUNS=… are rounds of four builds.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BuildOptions, Plugin as EsbuildPlugin, PluginBuild } from 'esbuild';
import type { BuildManifest } from '../src/runtime/manifest.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const work = join(root, 'bench/tmp/build');
const runtimeEntry = join(root, 'src/runtime/index.ts');
const DRIVERS = Number(process.env.DRIVERS ?? 200);
type Bundler = 'esbuild' | 'rollup' | 'vite';
const DEFAULT_RUNS: Record<Bundler, number> = { esbuild: 25, rollup: 5, vite: 11 };
const runsOf = (bundler: Bundler) => Number(process.env.RUNS ?? DEFAULT_RUNS[bundler]);
const COLD_RUNS = Number(process.env.COLD_RUNS ?? 5);
const BUNDLERS = (process.env.BUNDLERS ?? 'esbuild,rollup,vite').split(',').map((b) => b.trim()) as Bundler[];
for (const b of BUNDLERS) if (!(b in DEFAULT_RUNS)) throw new Error(`BUNDLERS: unknown bundler '${b}'`);
if (!BUNDLERS.includes('esbuild')) throw new Error('BUNDLERS must include esbuild (sections 2 and 3 use its builds)');

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

/** esbuild options of both builds (the plugin build adds the plugin). */
const esbuildOptions = (app: string, outdir: string) =>
  ({
    absWorkingDir: app,
    entryPoints: { main: join(app, 'src/main.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    alias: { 'gen-modules/runtime': runtimeEntry },
    logLevel: 'silent',
  }) satisfies BuildOptions;

/**
 * A build's wall time and this process's CPU time (all its threads: for rollup and Vite the
 * bundler's own work too; esbuild's Go process is not included), in ms.
 */
interface Timing {
  wallMs: number;
  cpuMs: number;
  /** esbuild builds on Linux: CPU time of esbuild's own (Go) service process during the build. */
  esbuildCpuMs?: number;
}

/**
 * CPU time (ms, all threads) of the esbuild service processes started from this process, from
 * /proc (Linux; undefined elsewhere). Summed over every service: tsx, which runs this benchmark,
 * has its own (idle while the builds run). Each thread's schedstat is in nanoseconds, where
 * /proc/PID/stat counts 10 ms ticks.
 */
function esbuildProcessCpuMs(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    let ns = 0;
    let found = false;
    for (const task of readdirSync('/proc/self/task')) {
      for (const child of readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) {
        if (!readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('--service=')) continue;
        found = true;
        for (const thread of readdirSync(`/proc/${child}/task`)) ns += Number(readFileSync(`/proc/${child}/task/${thread}/schedstat`, 'utf8').split(' ')[0]);
      }
    }
    return found ? ns / 1e6 : undefined;
  } catch {
    // No /proc, or a process or thread gone while it was read.
    return undefined;
  }
}

type PluginModules = { esbuild: typeof import('../plugin/esbuild.js'); rollup: typeof import('../plugin/rollup.js'); vite: typeof import('../plugin/vite.js') };

/**
 * A plugin as users run it: its published entry point in dist/ (built by buildPackage() below), not
 * the TypeScript source through tsx, whose keepNames wrappers cost a few ms of CPU per build.
 */
function publishedPlugin<B extends Bundler>(bundler: B): Promise<PluginModules[B]> {
  return import(pathToFileURL(join(root, 'dist', `${bundler}.js`)).href) as Promise<PluginModules[B]>;
}

/** Builds and returns its timing (the output folder is removed first, untimed). */
async function build(bundler: Bundler, app: string, outdir: string, withPlugin: boolean, wrap?: (plugin: EsbuildPlugin) => EsbuildPlugin): Promise<Timing> {
  rmSync(outdir, { recursive: true, force: true });
  const entry = join(app, 'src/main.ts');
  const cpu = process.cpuUsage();
  const start = performance.now();
  let esbuildCpuMs: number | undefined;
  if (bundler === 'esbuild') {
    const { build: esbuild } = await import('esbuild');
    const plugin = withPlugin ? (await publishedPlugin('esbuild')).default({ cwd: app }) : undefined;
    const plugins = plugin ? [wrap ? wrap(plugin) : plugin] : [];
    const before = esbuildProcessCpuMs();
    await esbuild({ ...esbuildOptions(app, outdir), plugins });
    const after = esbuildProcessCpuMs();
    if (before !== undefined && after !== undefined) esbuildCpuMs = after - before;
  } else if (bundler === 'rollup') {
    const { rollup } = await import('rollup');
    const plugins = [rollupTypeScript(), ...(withPlugin ? [(await publishedPlugin('rollup')).default({ cwd: app })] : [])];
    const bundle = await rollup({ input: { main: entry }, external: [/^node:/], plugins, onwarn: () => {} });
    await bundle.write({ dir: outdir, format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' });
    await bundle.close();
  } else {
    const { build: vite } = await import('vite');
    // Default options: the plugin leaves these legacy decorators to Vite's own transform.
    const plugins = withPlugin ? [(await publishedPlugin('vite')).default({ cwd: app })] : [];
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
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, ...(esbuildCpuMs !== undefined ? { esbuildCpuMs } : {}) };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
/** The q-quantile by linear interpolation. */
const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  return sorted[low]! + (sorted[Math.min(low + 1, sorted.length - 1)]! - sorted[low]!) * (at - low);
};
const load = () => loadavg().map((l) => round(l, 2));

interface Comparison {
  plugin: number[];
  plain: number[];
}

/**
 * Medians, quartiles, the ratio of the medians, the paired ratio (median of plugin[i] / plain[i],
 * builds of the same round; the figure the target is judged on) and the overhead in ms of a
 * plugin/plain comparison.
 */
function summarize({ plugin, plain }: Comparison) {
  const stats = (values: number[], digits = 0) => ({ median: round(median(values), digits), q1: round(quantile(values, 0.25), digits), q3: round(quantile(values, 0.75), digits) });
  const ratios = plugin.map((t, i) => t / plain[i]!);
  return {
    pairedRatio: stats(ratios, 3),
    withPlugin: plugin.map((t) => round(t)),
    plainDynamicImports: plain.map((t) => round(t)),
    plugin: stats(plugin),
    plain: stats(plain),
    medianRatio: round(median(plugin) / median(plain), 3),
    overheadMs: round(median(plugin) - median(plain)),
    medianPairOverheadMs: round(median(plugin.map((t, i) => t - plain[i]!))),
  };
}

/**
 * The plugin's three situations: 'cached', a build whose driver sources did not change since the
 * last clean scan (every rebuild in CI or on a developer's machine but the first after an edit;
 * the scan cache in node_modules/.cache answers); 'edited', the build after one driver file was
 * edited (the cache vouches for the other files, that one is scanned again); 'scan', every driver
 * file scanned (GEN_MODULES_CACHE=0). Rounds rotate the order of the variants.
 */
type Variant = 'plain' | 'cached' | 'edited' | 'scan';
const VARIANTS: readonly Variant[] = ['plain', 'cached', 'edited', 'scan'];
async function compareVariants(rounds: number, run: (variant: Variant) => Promise<Timing>, spacer: () => Promise<unknown>): Promise<Record<Variant, Timing[]>> {
  const result: Record<Variant, Timing[]> = { plain: [], cached: [], edited: [], scan: [] };
  for (let i = 0; i < rounds; i++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const variant = VARIANTS[(i + k) % VARIANTS.length]!;
      // Every timed build follows the same untimed plain build: what a build leaves behind
      // (garbage to collect, in this process and in esbuild's, caches it took over) then weighs
      // on every variant alike. Without it the rotation put the plain build after the build that
      // scans every file in three rounds of four, and the plugin build with the scan cache after
      // the plain build: esbuild, 20 rounds each, paired 1.152x / 1.168x / 1.284x without the
      // spacer and 1.103-1.125x / 1.108-1.124x / 1.206-1.248x with it (plain 262 vs 288-293 ms: a
      // plain build that follows the full scan, which leaves esbuild idle while it scans, is faster).
      await spacer();
      result[variant].push(await run(variant));
    }
  }
  return result;
}

let edits = 0;
/**
 * Edits the next driver file before an 'edited' build, untimed: a new export, so that its chunk
 * changes too (a comment would leave the output, and so the build id, as it was, and the plugin's
 * finish cache would spare hashing the chunks, as after no edit). Its mtime is
 * set a few seconds back: the scan cache keeps no scan of a file younger than two seconds, and the
 * 'cached' build after this one must find the cache written.
 */
function editOneDriver(app: string): void {
  const n = edits % DRIVERS;
  const file = join(app, `src/drivers/fmt${pad(n)}.ts`);
  writeFileSync(file, `${driverSource(n)}export const revision = ${++edits};\n`);
  const when = new Date(Date.now() - 5000);
  utimesSync(file, when, when);
}

/** Runs `build` with the scan cache on or off (the plugin reads the setting when it scans). */
async function withScanCache<T>(on: boolean, build: () => Promise<T>): Promise<T> {
  const before = process.env.GEN_MODULES_CACHE;
  if (on) delete process.env.GEN_MODULES_CACHE;
  else process.env.GEN_MODULES_CACHE = '0';
  try {
    return await build();
  } finally {
    if (before === undefined) delete process.env.GEN_MODULES_CACHE;
    else process.env.GEN_MODULES_CACHE = before;
  }
}

/** Wraps the esbuild plugin to time its setup and its onEnd callback (ms, wall). */
function phaseTimer(phases: { setup: number[]; onEnd: number[] }) {
  return (plugin: EsbuildPlugin): EsbuildPlugin => ({
    name: plugin.name,
    async setup(build: PluginBuild) {
      const start = performance.now();
      const timed = Object.create(build) as PluginBuild;
      timed.onEnd = (callback) =>
        build.onEnd(async (result) => {
          const t = performance.now();
          const value = await callback(result);
          phases.onEnd.push(performance.now() - t);
          return value;
        });
      await plugin.setup(timed);
      phases.setup.push(performance.now() - start);
    },
  });
}

/** Rebuild times of a plain esbuild context and a plugin context after each edit, paired. */
async function contextComparison(app: string, runs: number) {
  const { context } = await import('esbuild');
  const plugin = (await publishedPlugin('esbuild')).default({ cwd: app });
  const plain = await context(esbuildOptions(app, join(work, 'out-esbuild-context-plain')));
  const withPlugin = await context({ ...esbuildOptions(app, join(work, 'out-esbuild-context-plugin')), plugins: [plugin] });
  const times = { plugin: [] as number[], plain: [] as number[] };
  try {
    for (let i = -2; i < runs; i++) {
      editOneDriver(app);
      const order = i % 2 === 0 ? (['plain', 'plugin'] as const) : (['plugin', 'plain'] as const);
      for (const which of order) {
        const start = performance.now();
        await (which === 'plain' ? plain : withPlugin).rebuild();
        if (i >= 0) times[which].push(performance.now() - start);
      }
    }
  } finally {
    await plain.dispose();
    await withPlugin.dispose();
  }
  return { runs, ...summarize(times) };
}

/**
 * One build per fresh Node process (esbuild; the plugin bundled like the published package, so
 * no TypeScript loader is involved): each child prints the plugin's import time and the build's.
 */
function coldComparison(app: string, runs: number) {
  const pkg = join(work, 'pkg');
  spawnSync(process.execPath, ['-e', `require('esbuild').buildSync(${JSON.stringify({ absWorkingDir: root, entryPoints: { esbuild: 'plugin/esbuild.ts' }, outdir: pkg, outExtension: { '.js': '.mjs' }, bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'error' })})`], { stdio: 'inherit' });
  const script = join(work, 'cold-build.mjs');
  writeFileSync(
    script,
    `import { build } from 'esbuild';
const [app, outdir, mode] = process.argv.slice(2);
const start = performance.now();
const plugins = mode === 'plugin' ? [(await import(${JSON.stringify(join(pkg, 'esbuild.mjs'))})).default({ cwd: app })] : [];
const imported = performance.now();
await build({ ...JSON.parse(process.env.BENCH_OPTIONS), plugins });
const done = performance.now();
console.log(JSON.stringify({ importMs: imported - start, buildMs: done - imported, totalMs: done - start }));
`,
  );
  const outdir = join(work, 'out-esbuild-cold');
  const base = { ...process.env, BENCH_OPTIONS: JSON.stringify(esbuildOptions(app, outdir)) };
  const one = (variant: Variant) => {
    rmSync(outdir, { recursive: true, force: true });
    if (variant === 'edited') editOneDriver(app);
    const env = variant === 'scan' ? { ...base, GEN_MODULES_CACHE: '0' } : base;
    const run = spawnSync(process.execPath, [script, app, outdir, variant === 'plain' ? 'plain' : 'plugin'], { cwd: root, encoding: 'utf8', env });
    if (run.status !== 0) throw new Error(`cold build failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as { importMs: number; buildMs: number; totalMs: number };
  };
  one('scan');
  one('plain');
  const times: Record<Variant, { importMs: number; buildMs: number; totalMs: number }[]> = { plain: [], cached: [], edited: [], scan: [] };
  for (let i = 0; i < runs; i++) for (let k = 0; k < VARIANTS.length; k++) times[VARIANTS[(i + k) % VARIANTS.length]!].push(one(VARIANTS[(i + k) % VARIANTS.length]!));
  const total = (list: { importMs: number; buildMs: number }[]) => list.map((r) => r.importMs + r.buildMs);
  return {
    // import + build vs build: a build script without the plugin imports nothing extra. Every file
    // scanned (a cold scan: the bench's drivers are read by the literal reader, so the compiler is
    // not loaded), and with the scan cache warm.
    ...summarize({ plugin: total(times.scan), plain: times.plain.map((r) => r.buildMs) }),
    cached: summarize({ plugin: total(times.cached), plain: times.plain.map((r) => r.buildMs) }),
    edited: summarize({ plugin: total(times.edited), plain: times.plain.map((r) => r.buildMs) }),
    pluginImportMs: round(median(times.scan.map((r) => r.importMs))),
    pluginBuildMs: round(median(times.scan.map((r) => r.buildMs))),
  };
}

/**
 * The published entry points (dist/, built by the package script), each imported in a fresh Node
 * process `times` times: median ms of the import() alone. What a build script or Vite config pays once.
 */
function freshImports(times: number): Record<'esbuild' | 'rollup' | 'vite', number> {
  const one = (entry: string) => {
    const script = `const t = performance.now(); await import(${JSON.stringify(join(root, 'dist', `${entry}.js`))}); process.stdout.write(String(performance.now() - t));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`importing dist/${entry}.js failed: ${run.stderr}`);
    return Number(run.stdout);
  };
  const entries = ['esbuild', 'rollup', 'vite'] as const;
  return Object.fromEntries(entries.map((e) => [e, round(median(Array.from({ length: times }, () => one(e))), 1)])) as Record<(typeof entries)[number], number>;
}

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

// The published package (dist/), which the builds below and the fresh-process imports use.
const packageBuild = spawnSync(process.execPath, [join(root, 'scripts/build-package.mjs')], { cwd: root, encoding: 'utf8' });
if (packageBuild.status !== 0) throw new Error(`package build failed: ${packageBuild.stderr}`);
const importStart = performance.now();
await publishedPlugin('esbuild');
const pluginImportMs = round(performance.now() - importStart);
const freshImportMs = freshImports(5);

// 1. Build time, per bundler, in this (warm) process. The app has a node_modules folder, as a
// real one does, so the plugin keeps its scan cache there.
mkdirSync(join(apps.lazy, 'node_modules'), { recursive: true });
await build('esbuild', apps.lazy, join(work, 'out-esbuild-plugin'), true); // writes the table the plain builds use
// The scan cache keeps no scan of files (or folders) changed in the last two seconds.
await new Promise((r) => setTimeout(r, 2100));
type CpuOverhead = { plugin: number; plain: number; pairedOverhead: number };
type Timed = ReturnType<typeof summarize> & {
  runs: number;
  loadBefore: number[];
  loadAfter: number[];
  oneDriverEdited: ReturnType<typeof summarize>;
  fullScan: ReturnType<typeof summarize>;
  processCpuMs: Record<'cached' | 'oneDriverEdited' | 'fullScan', CpuOverhead>;
  /**
   * esbuild on Linux: the build's whole CPU time, this process plus esbuild's service process:
   * medians per variant (ms) and the paired ratios plugin / plain. Unlike wall time it does not
   * depend on how the work spreads over the cores or on what else the machine runs.
   */
  totalCpu?: { medianMs: Record<Variant, number>; esbuildProcessMs: Record<Variant, number>; pairedRatio: Record<'cached' | 'oneDriverEdited' | 'fullScan', number> };
};
const buildTimes: Partial<Record<Bundler, Timed>> = {};
for (const bundler of BUNDLERS) {
  const outPlugin = join(work, `out-${bundler}-plugin`);
  const outPlain = join(work, `out-${bundler}-plain`);
  const run = (variant: Variant) => {
    if (variant === 'edited') editOneDriver(apps.lazy);
    return withScanCache(variant !== 'scan', () => build(bundler, apps.lazy, variant === 'plain' ? outPlain : outPlugin, variant !== 'plain'));
  };
  const spacer = () => build(bundler, apps.lazy, join(work, `out-${bundler}-spacer`), false);
  const loadBefore = load();
  await compareVariants(2, run, spacer); // warm-up
  const runs = runsOf(bundler);
  const timings = await compareVariants(runs, run, spacer);
  const times = Object.fromEntries(VARIANTS.map((v) => [v, timings[v].map((t) => t.wallMs)])) as Record<Variant, number[]>;
  const cpu = Object.fromEntries(VARIANTS.map((v) => [v, timings[v].map((t) => t.cpuMs)])) as Record<Variant, number[]>;
  // The plugin's added CPU in this process, per situation: steadier than wall time on a busy machine.
  const cpuOverhead = (plugin: number[]) => ({ plugin: round(median(plugin)), plain: round(median(cpu.plain)), pairedOverhead: round(median(plugin.map((t, i) => t - cpu.plain[i]!))) });
  const totals = Object.fromEntries(VARIANTS.map((v) => [v, timings[v].map((t) => (t.esbuildCpuMs === undefined ? Number.NaN : t.cpuMs + t.esbuildCpuMs))])) as Record<Variant, number[]>;
  const pairedCpu = (plugin: number[]) => round(median(plugin.map((t, i) => t / totals.plain[i]!)), 3);
  const totalCpu = Object.values(totals).flat().some((t) => Number.isNaN(t))
    ? undefined
    : {
        medianMs: Object.fromEntries(VARIANTS.map((v) => [v, round(median(totals[v]))])) as Record<Variant, number>,
        esbuildProcessMs: Object.fromEntries(VARIANTS.map((v) => [v, round(median(timings[v].map((t) => t.esbuildCpuMs!)))])) as Record<Variant, number>,
        pairedRatio: { cached: pairedCpu(totals.cached), oneDriverEdited: pairedCpu(totals.edited), fullScan: pairedCpu(totals.scan) },
      };
  const manifest = manifestOf(outPlugin);
  const lazyChunks = Object.values(manifest.drivers).filter((d) => d.chunk?.startsWith('drivers/')).length;
  if (lazyChunks !== DRIVERS) throw new Error(`${bundler}: expected ${DRIVERS} driver chunks, got ${lazyChunks}`);
  buildTimes[bundler] = {
    runs,
    ...summarize({ plugin: times.cached, plain: times.plain }),
    oneDriverEdited: summarize({ plugin: times.edited, plain: times.plain }),
    fullScan: summarize({ plugin: times.scan, plain: times.plain }),
    processCpuMs: { cached: cpuOverhead(cpu.cached), oneDriverEdited: cpuOverhead(cpu.edited), fullScan: cpuOverhead(cpu.scan) },
    ...(totalCpu ? { totalCpu } : {}),
    loadBefore,
    loadAfter: load(),
  };
  const list = (values: number[]) => values.map((t) => round(t)).join(', ');
  console.error(`${bundler}: plugin (scan cache) ${list(times.cached)} ms, plugin (one driver edited) ${list(times.edited)} ms, plugin (full scan) ${list(times.scan)} ms, plain ${list(times.plain)} ms`);
  if (totalCpu) console.error(`${bundler}'s process CPU: plugin (scan cache) ${list(timings.cached.map((t) => t.esbuildCpuMs!))} ms, plugin (one driver edited) ${list(timings.edited.map((t) => t.esbuildCpuMs!))} ms, plugin (full scan) ${list(timings.scan.map((t) => t.esbuildCpuMs!))} ms, plain ${list(timings.plain.map((t) => t.esbuildCpuMs!))} ms`);
}

// Where the esbuild plugin's time goes (separate runs: the timing wrapper stays out of the figures above).
const phases = { setup: [] as number[], onEnd: [] as number[] };
for (let i = 0; i < Math.min(runsOf('esbuild'), 9); i++) await withScanCache(false, () => build('esbuild', apps.lazy, join(work, 'out-esbuild-plugin'), true, phaseTimer(phases)));
const esbuildPhases = { setupMs: round(median(phases.setup)), onEndMs: round(median(phases.onEnd)) };

// The same comparison, one build per fresh process.
const cold = coldComparison(apps.lazy, COLD_RUNS);

// esbuild contexts (watch mode, a dev loop): one driver file edited before each rebuild of a plain
// context and of a plugin context, in alternating order. Nobody tells the plugin what changed;
// it regenerates the table (the scan cache answers for the unchanged files) on every rebuild.
const contextRebuild = await contextComparison(apps.lazy, Math.min(runsOf('esbuild'), 20));

// Where the plugin's time goes: regenerating the table (config, scan of every driver file, probe
// compilation, emit) with a fresh scanner, as every build does.
const { prepareBuild } = await import('../plugin/shared.js');
const regenerate: number[] = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  await withScanCache(false, () => prepareBuild({ cwd: apps.lazy }, apps.lazy));
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
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version, loadAverage: load() },
  app: { drivers: DRIVERS, sourceBytes, decorators: 'experimentalDecorators (so Vite without the plugin lowers them too)' },
  method: 'per bundler: 2 warm-up rounds, then `runs` rounds of plain / plugin with its scan cache / plugin after one driver file was edited / plugin scanning every file (GEN_MODULES_CACHE=0), in one process, order rotating, each timed build after the same untimed plain build; a fresh plugin (the published dist/ entry point) every build; medians; pairedRatio: median over rounds of plugin / plain of the same round (the target is judged on it)',
  pluginImportMs,
  freshProcessImportMs: freshImportMs,
  tableRegenerationMs: regenerateMs,
  buildTimeMs: Object.fromEntries(
    Object.entries(buildTimes).map(([b, t]) => [b, { ...t, target: 1.15, met: { cached: t.pairedRatio.median <= 1.15, oneDriverEdited: t.oneDriverEdited.pairedRatio.median <= 1.15, fullScan: t.fullScan.pairedRatio.median <= 1.15 } }]),
  ),
  esbuildPhasesMs: esbuildPhases,
  esbuildColdProcessMs: { runs: COLD_RUNS, ...cold, note: 'one build per fresh Node process; plugin = its import + the build' },
  esbuildContextRebuildMs: { ...contextRebuild, note: 'esbuild contexts, one driver file edited before each rebuild; plugin context / plain context' },
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

const signed = (n: number) => (n >= 0 ? `+${n}` : `${n}`);
const rows = [
  `| measure | value | target |`,
  `|---|---|---|`,
  ...Object.entries(buildTimes).map(([b, t]) => {
    const [e, f] = [t.oneDriverEdited, t.fullScan];
    const met = (c: { pairedRatio: { median: number } }) => (c.pairedRatio.median <= 1.15 ? 'met' : 'NOT met');
    const ratios = (c: ReturnType<typeof summarize>) => `${c.pairedRatio.median}x paired (quartiles ${c.pairedRatio.q1}-${c.pairedRatio.q3}), ${c.medianRatio}x of the medians`;
    return `| ${b} build, plugin / plain import() (${t.runs} rounds) | sources unchanged (scan cache): ${ratios(t)} (${t.plugin.median} / ${t.plain.median} ms, ${signed(t.medianPairOverheadMs)} ms paired; quartiles ${t.plugin.q1}-${t.plugin.q3} / ${t.plain.q1}-${t.plain.q3}); one driver edited: ${ratios(e)} (${e.plugin.median} ms, ${signed(e.medianPairOverheadMs)} ms); every file scanned: ${ratios(f)} (${f.plugin.median} ms, ${signed(f.medianPairOverheadMs)} ms) | <= 1.15x paired: ${met(t)} / ${met(e)} / ${met(f)} |`;
  }),
  `| the plugin's added CPU time in the Node process, paired median (rollup and Vite: with their own threads; esbuild's Go process not counted): sources unchanged / one driver edited / every file scanned | ${Object.entries(buildTimes)
    .map(([b, t]) => `${b} ${signed(t.processCpuMs.cached.pairedOverhead)} / ${signed(t.processCpuMs.oneDriverEdited.pairedOverhead)} / ${signed(t.processCpuMs.fullScan.pairedOverhead)} ms (plain ${t.processCpuMs.cached.plain} ms)`)
    .join('; ')} | steadier than wall time on a busy machine |`,
  ...Object.entries(buildTimes)
    .filter(([, t]) => t.totalCpu)
    .map(([b, t]) => {
      const c = t.totalCpu!;
      return `| ${b} build, whole CPU time (this process + esbuild's process), plugin / plain, paired: sources unchanged / one driver edited / every file scanned | ${c.pairedRatio.cached}x / ${c.pairedRatio.oneDriverEdited}x / ${c.pairedRatio.fullScan}x (medians ${c.medianMs.cached} / ${c.medianMs.edited} / ${c.medianMs.scan} vs ${c.medianMs.plain} ms; esbuild's process ${c.esbuildProcessMs.cached} / ${c.esbuildProcessMs.edited} / ${c.esbuildProcessMs.scan} vs ${c.esbuildProcessMs.plain} ms) | the work added, however it spreads over the cores |`;
    }),
  `| of which (esbuild, every file scanned): plugin setup (config, scan, table) / onEnd (guard, build id, SRI, manifest) | ${esbuildPhases.setupMs} / ${esbuildPhases.onEndMs} ms | |`,
  `| esbuild, one build per fresh Node process: plugin import + build / plain build (${COLD_RUNS} rounds, ratio of the medians) | every file scanned: ${cold.medianRatio}x (paired ${cold.pairedRatio.median}x; ${cold.plugin.median} / ${cold.plain.median} ms; import ${cold.pluginImportMs} ms); scan cache warm: ${cold.cached.medianRatio}x (${cold.cached.plugin.median} ms); one driver edited: ${cold.edited.medianRatio}x (${cold.edited.plugin.median} ms) | |`,
  `| esbuild context rebuild after one driver edit, plugin / plain context (${contextRebuild.runs} rounds) | ${contextRebuild.pairedRatio.median}x paired (quartiles ${contextRebuild.pairedRatio.q1}-${contextRebuild.pairedRatio.q3}; ${contextRebuild.plugin.median} / ${contextRebuild.plain.median} ms, ${signed(contextRebuild.medianPairOverheadMs)} ms paired) | |`,
  `| entry bytes, 10 -> ${DRIVERS} drivers | ${entryBytes.small} -> ${entryBytes.large} B (+${perDriver.entryBytes} B/driver; table source +${perDriver.tableSourceBytes} B/driver; a driver's code is ${perDriver.driverSourceBytes} B) | table entries only ${results.entryBytes.met ? 'met' : 'NOT met'} |`,
  `| Node start-up to first read, lazy / eager | ${results.startupToFirstReadMs.ratio}x (${lazyStart.firstReadMs} / ${eagerStart.firstReadMs} ms) | lower is better |`,
  `| regenerating the table alone (fresh scanner, ${DRIVERS} driver files) | ${regenerateMs} ms | |`,
  `| gen-modules/esbuild module import (dist/esbuild.js), in the benchmark's process | ${pluginImportMs} ms | once per process |`,
  `| published entry import in a fresh Node process: gen-modules/esbuild / rollup / vite | ${freshImportMs.esbuild} / ${freshImportMs.rollup} / ${freshImportMs.vite} ms | once per process |`,
];
console.log(rows.join('\n'));
console.log(`\n${cpus().length} cores, load average ${results.machine.loadAverage.join(' ')}; results in bench/results/build.json`);
