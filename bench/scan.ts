// Scanner benchmark: cold `gen-modules` on synthetic trees of 2,000 and 10,000 files against
//  - the floor: a process that reads every file, applies the same text pre-filter and parses
//    only the candidates with the same TypeScript (nothing can do less and still look inside);
//  - a naive ts-morph Project loaded from tsconfig, with the type checker resolving the
//    decorators and their arguments;
//  - a one-file change under `gen-modules --watch` (write to regenerated table on stdout),
// plus the peak memory (max RSS) of each. Every measurement is a fresh child process. "Cold" means
// no scan result is reused; the compiler's V8 code cache (src/scanner/code-cache.ts, written by the
// first run on a machine, as tsc's own compile cache is) is warm. The first run on a machine, with
// GEN_MODULES_CODE_CACHE=0, is measured and reported beside it.
//
//   npm run bench:scan [-- --sizes 2000,10000 --runs 5 --keep --trees-only]
//
// Trees: 10% drivers (one @blockDriver class each), the rest ordinary code (services, helpers,
// interfaces; some with JSDoc tags or another library's decorators, so they pass the '@'
// pre-filter too). Half the drivers take their constants from other files: relative imports,
// tsconfig `paths`, and barrels (`export *`). Some import the decorator through the app's own
// re-export. Writes bench/results/scan.json and prints a markdown table.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const sizes = arg('sizes', '2000,10000').split(',').map(Number);
const runs = Number(arg('runs', '5'));
/** --keep: leave the trees in the temp folder (their paths are printed) for profiling. */
const keep = process.argv.includes('--keep');
/** --trees-only: write the trees and stop. */
const treesOnly = process.argv.includes('--trees-only');

// ---------------------------------------------------------------------------------------------
// Synthetic trees
// ---------------------------------------------------------------------------------------------

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tree {
  root: string;
  files: number;
  drivers: number;
  bytes: number;
  /** Files to edit for the watch measurement. */
  edits: { file: string; from: string; to: string }[];
}

function writeTree(total: number): Tree {
  const root = mkdtempSync(join(tmpdir(), `gm-bench-scan-${total}-`));
  const random = rng(total);
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  let files = 0;
  let bytes = 0;
  const put = (file: string, text: string) => {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
    files++;
    bytes += text.length;
  };
  const drivers = Math.round(total / 10);
  const withConstants = Math.floor(drivers / 2);
  const ordinaryDirs = Math.max(10, Math.round(total / 60));

  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          paths: { '@formats/*': ['./src/formats/*'], 'gen-modules/runtime': [join(repo, 'src/runtime/index.ts')] },
        },
        include: ['src'],
      },
      null,
      2,
    ),
  );
  writeFileSync(join(root, 'gen-modules.config.json'), JSON.stringify({ drivers: ['src/**/*.ts'], out: 'generated/drivers.gen.ts' }, null, 2));
  put('src/app/decorators.ts', `// The application's own entry to the decorator.\nexport { blockDriver as driver } from 'gen-modules/runtime';\n`);

  const method = (name: string, i: number) => `
  /** Reads ${name} ${i}: ${pick(['header', 'table', 'cluster', 'extent', 'footer'])}. */
  async ${name}${i}(offset: number, length: number): Promise<Uint8Array> {
    const data = new Uint8Array(length);
    for (let k = 0; k < length; k += 512) {
      const sector = Math.floor((offset + k) / 512);
      if (sector > this.limit) throw new RangeError(\`sector \${sector} past the end\`);
      data[k] = (sector * ${i + 7}) & 0xff;
    }
    return data;
  }
`;
  const edits: Tree['edits'] = [];
  for (let i = 0; i < drivers; i++) {
    const group = `g${i % 25}`;
    const file = `src/drivers/${group}/format${i}.ts`;
    const name = `fmt${i}`;
    const magic = (0x10000000 + i * 7919) >>> 0;
    const viaApp = i % 10 === 3;
    const decorator = viaApp ? `import { driver as blockDriver } from '../../app/decorators.js';` : `import { blockDriver } from 'gen-modules/runtime';`;
    let imports = '';
    let options: string;
    if (i < withConstants * 2 && i % 2 === 0) {
      // Constants from another file: relative, through tsconfig paths, or through a barrel.
      const style = (i / 2) % 3;
      const constants = `src/formats/${name}/constants.ts`;
      put(
        constants,
        `// Format constants of ${name}.\nexport const MAGIC = 0x${magic.toString(16)};\nexport const NAME = '${name}' as const;\nexport const HEADER_SIZE = 64 << 3;\nexport enum Version { V1 = 1, V2, V3 }\nexport const SIGNATURE = { at: 0, u32be: MAGIC } as const;\n\nexport function isSupported(version: number): boolean {\n  return version >= Version.V1 && version <= Version.V3;\n}\n`,
      );
      if (style === 2) put(`src/formats/${name}/index.ts`, `export * from './constants.js';\nexport { isSupported as supported } from './constants.js';\n`);
      const from = style === 0 ? `../../formats/${name}/constants.js` : style === 1 ? `@formats/${name}/constants` : `../../formats/${name}/index.js`;
      imports = `import { HEADER_SIZE, MAGIC, NAME, SIGNATURE, Version } from '${from}';`;
      options = `{\n  format: NAME,\n  description: 'synthetic format ${i}',\n  probe: { score: 100, match: [{ minLength: HEADER_SIZE / 8 }, SIGNATURE, { at: 4, u32be: { min: Version.V2 } }] },\n}`;
      if (edits.length < 3 && i > drivers / 3) edits.push({ file: constants, from: `0x${magic.toString(16)}`, to: `0x${(magic + 1).toString(16)}` });
    } else {
      options = `{\n  format: '${name}',\n  description: 'synthetic format ${i}',\n  probe: { score: 100, match: [{ minLength: 64 }, { at: 0, u32be: MAGIC_${i} }, { at: 8, u16le: 1 << 3 }] },\n}`;
      imports = `const MAGIC_${i} = 0x${magic.toString(16)};`;
    }
    const methods = Array.from({ length: 4 + Math.floor(random() * 4) }, (_, k) => method(pick(['read', 'probeTable', 'load', 'map']), k)).join('');
    const text = `// Synthetic driver ${i}.\n${decorator}\n${imports}\n\n@blockDriver(${options})\nexport class Format${i}Driver {\n  private limit = ${1000 + i};\n${methods}}\n`;
    put(file, text);
    if (i === Math.floor(drivers / 2)) edits.push({ file, from: `synthetic format ${i}'`, to: `synthetic format ${i} (edited)'` });
  }

  let n = 0;
  const ordinaryTotal = total - files;
  const ordinaryFiles: string[] = [];
  while (files < total) {
    const dir = `src/${pick(['core', 'ui', 'net', 'storage', 'util', 'model'])}/m${n % ordinaryDirs}`;
    const file = `${dir}/module${n}.ts`;
    const deps = Array.from({ length: 1 + Math.floor(random() * 3) }, () => Math.floor(random() * Math.max(1, n)));
    const kind = random();
    let header = [...new Set(deps)]
      .map((d, k) => {
        let spec = posix.relative(posix.dirname(file), ordinaryFiles[d] ?? file).replace(/\.ts$/, '.js');
        if (!spec.startsWith('.')) spec = `./${spec}`;
        return `import type { Shape${d} as Dep${k} } from '${spec}';`;
      })
      .join('\n');
    let body = '';
    if (kind < 0.12) {
      // JSDoc tags: an '@' that is no decorator.
      body = `/**\n * Service ${n}.\n * @param input the request\n * @returns the answer\n * @see https://example.com/docs\n */\n`;
    } else if (kind < 0.17) {
      // Another library's decorator, named like ours: not ours.
      header += `\nimport { Injectable, blockDriver } from 'tiny-di';`;
      body = `@Injectable()\n@blockDriver({ format: 'not-ours-${n}' })\n`;
    } else if (kind < 0.19) {
      body = `const CONTACT = 'support@example.com';\nvoid CONTACT;\n`;
    }
    const fields = Array.from({ length: 4 + Math.floor(random() * 6) }, (_, k) => `  field${k}: ${pick(['number', 'string', 'boolean', 'readonly number[]'])};`).join('\n');
    const fns = Array.from({ length: 3 + Math.floor(random() * 5) }, (_, k) => `
export function compute${n}_${k}(values: readonly number[], scale = ${k + 1}): number {
  let total = 0;
  for (const value of values) {
    if (value < 0) continue;
    total += Math.round(value * scale) % ${97 + k};
  }
  return total > ${1000 * (k + 1)} ? total - ${k} : total;
}
`).join('');
    put(
      file,
      `// Ordinary module ${n}.\n${header}\n\nexport interface Shape${n} {\n${fields}\n}\n\n${body}export class Service${n} {\n  private readonly cache = new Map<string, number>();\n  get(key: string): number | undefined {\n    return this.cache.get(key);\n  }\n  set(key: string, value: number): this {\n    this.cache.set(key, value);\n    return this;\n  }\n}\n${fns}`,
    );
    ordinaryFiles.push(file);
    if (n === Math.floor(ordinaryTotal / 2)) edits.push({ file, from: 'private readonly cache', to: 'protected readonly cache' });
    n++;
  }
  return { root, files, drivers, bytes, edits };
}

// ---------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------

/** Preload that reports the process's peak RSS when it exits. */
const RSS_PRELOAD = `process.on('exit', () => { const u = process.resourceUsage(); process.stderr.write('\\n__MAXRSS_KB__ ' + u.maxRSS + ' __CPU_US__ ' + (u.userCPUTime + u.systemCPUTime) + '\\n'); });\n`;

/**
 * The floor: list, read, pre-filter, parse the candidates with the same TypeScript. Mode 'at':
 * the pre-filter is "contains '@'"; mode 'prefilter': gen-modules' own pre-filter (prefilter.ts,
 * which also skips files whose '@' names nothing the file binds, such as JSDoc tags).
 */
const FLOOR = `
import { readdirSync, readFileSync } from 'node:fs';
import { mayHoldDecorator } from './prefilter.mjs';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
const require = createRequire(${JSON.stringify(join(repo, 'package.json'))});
const ts = createRequire(join(dirname(require.resolve('ts-morph')), 'ts-morph.js'))('@ts-morph/common/dist/typescript.js');
const [root, mode] = process.argv.slice(2);
const candidate = mode === 'at' ? (text) => text.includes('@') : mayHoldDecorator;
let candidates = 0;
const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.ts'));
for (const entry of files) {
  const path = join(entry.parentPath ?? entry.path, entry.name);
  const text = readFileSync(path, 'utf8');
  if (!candidate(text)) continue;
  candidates++;
  ts.createSourceFile(path, text, ts.ScriptTarget.Latest);
}
process.stdout.write(JSON.stringify({ files: files.length, candidates }) + '\\n');
`;

/** A naive scanner: a ts-morph Project from tsconfig, the type checker answering every question. */
const TS_MORPH = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repo, 'package.json'))});
const { Project, Node } = require('ts-morph');
const project = new Project({ tsConfigFilePath: process.argv[2] + '/tsconfig.json' });
const checker = project.getTypeChecker();
let drivers = 0;
const value = (node) => {
  const type = checker.getTypeAtLocation(node);
  if (type.isLiteral()) return type.getLiteralValue();
  if (Node.isObjectLiteralExpression(node)) return Object.fromEntries(node.getProperties().map((p) => [p.getName(), Node.isPropertyAssignment(p) ? value(p.getInitializerOrThrow()) : undefined]));
  if (Node.isArrayLiteralExpression(node)) return node.getElements().map(value);
  const symbol = type.getSymbol();
  return symbol ? symbol.getName() : type.getText();
};
for (const file of project.getSourceFiles()) {
  for (const cls of file.getClasses()) {
    for (const decorator of cls.getDecorators()) {
      const call = decorator.getCallExpression();
      if (!call) continue;
      // Where the decorator comes from: the checker follows imports, renames and re-exports.
      let symbol = checker.getSymbolAtLocation(call.getExpression());
      if (!symbol) continue;
      if (symbol.isAlias()) symbol = checker.getAliasedSymbol(symbol) ?? symbol;
      const declaration = symbol.getDeclarations()[0];
      if (!declaration || symbol.getName() !== 'blockDriver' || !declaration.getSourceFile().getFilePath().includes('/src/runtime/')) continue;
      const options = value(call.getArguments()[0]);
      if (typeof options.format === 'string') drivers++;
    }
  }
}
process.stdout.write(JSON.stringify({ files: project.getSourceFiles().length, drivers }) + '\\n');
`;

interface Measured {
  /** Wall time from spawn to exit. */
  ms: number;
  /** CPU time of the process (user + system, all its threads): less sensitive to other load. */
  cpuMs: number;
  maxRssMb: number;
  stdout: string;
}

function run(args: string[], cwd: string, scripts: string, env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', join(scripts, 'rss.mjs'), ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const rss = /__MAXRSS_KB__ (\d+) __CPU_US__ (\d+)/.exec(stderr);
      if (code !== 0 || !rss) reject(new Error(`${args.join(' ')} exited ${code}: ${stderr.slice(0, 2000)}`));
      else resolve({ ms, cpuMs: Number(rss[2]) / 1000, maxRssMb: Number(rss[1]) / 1024, stdout });
    });
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** A one-file change under --watch: from the write to the regenerated table's line on stdout. */
async function watchChange(tree: Tree, scripts: string): Promise<{ ms: number[]; internalMs: number[]; maxRssMb: number; coldMs: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', join(scripts, 'rss.mjs'), join(repo, 'bin/gen-modules.js'), '--watch'], { cwd: tree.root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const until = async (test: () => boolean, what: string) => {
    const limit = performance.now() + 120_000;
    while (!test()) {
      if (child.exitCode !== null || performance.now() > limit) throw new Error(`watch: no ${what}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  await until(() => stderr.includes('watching'), 'start');
  const coldMs = performance.now() - started;
  await new Promise((r) => setTimeout(r, 300));
  const ms: number[] = [];
  const internalMs: number[] = [];
  for (let round = 0; round < 2; round++) {
    for (const edit of tree.edits) {
      const path = join(tree.root, edit.file);
      const text = readFileSync(path, 'utf8');
      const [from, to] = round % 2 === 0 ? [edit.from, edit.to] : [edit.to, edit.from];
      const lines = stdout.split('\n').length;
      const errLines = stderr.split('\n').length;
      const t0 = performance.now();
      writeFileSync(path, text.replace(from, to));
      // Each run prints the table's outcome on stdout, then its own time on stderr.
      await until(() => stdout.split('\n').length > lines, 'run');
      ms.push(performance.now() - t0);
      await until(() => /\[(\d+) ms\]/.test(stderr.split('\n').slice(errLines - 1).join('\n')), 'timing');
      internalMs.push(Number(/\[(\d+) ms\]/.exec(stderr.split('\n').slice(errLines - 1).join('\n'))![1]));
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const exit = new Promise((r) => child.on('close', r));
  child.kill('SIGINT');
  await exit;
  const rss = /__MAXRSS_KB__ (\d+)/.exec(stderr);
  return { ms, internalMs, maxRssMb: rss ? Number(rss[1]) / 1024 : NaN, coldMs };
}

// ---------------------------------------------------------------------------------------------

console.error('building dist/ (node scripts/build-package.mjs --no-types)...');
const built = spawnSync(process.execPath, [join(repo, 'scripts/build-package.mjs'), '--no-types'], { stdio: 'inherit' });
if (built.status !== 0) throw new Error('building dist failed');

const scripts = mkdtempSync(join(tmpdir(), 'gm-bench-scripts-'));
writeFileSync(join(scripts, 'rss.mjs'), RSS_PRELOAD);
writeFileSync(join(scripts, 'floor.mjs'), FLOOR);
{
  const { transformSync } = await import('esbuild');
  const source = readFileSync(join(repo, 'src/scanner/prefilter.ts'), 'utf8');
  writeFileSync(join(scripts, 'prefilter.mjs'), transformSync(source, { loader: 'ts', format: 'esm' }).code);
}
writeFileSync(join(scripts, 'ts-morph.mjs'), TS_MORPH);

const results: Record<string, unknown>[] = [];
for (const size of sizes) {
  console.error(`\n${size} files: writing the tree...`);
  const tree = writeTree(size);
  if (keep || treesOnly) console.error(`  tree: ${tree.root}`);
  if (treesOnly) continue;
  const out = join(tree.root, 'generated/drivers.gen.ts');
  const floorAt: Measured[] = [];
  const floor: Measured[] = [];
  const cold: Measured[] = [];
  // The first run on a machine: the compiler's V8 code cache (src/scanner/code-cache.ts) not yet written.
  const firstRun: Measured[] = [];
  const floorRun = (mode: 'at' | 'prefilter') => run([join(scripts, 'floor.mjs'), tree.root, mode], tree.root, scripts);
  // Warm the page cache, then interleave the three so that none gets a quieter machine.
  await floorRun('at');
  for (let i = 0; i < runs; i++) {
    floorAt.push(await floorRun('at'));
    floor.push(await floorRun('prefilter'));
    rmSync(out, { force: true });
    cold.push(await run([join(repo, 'bin/gen-modules.js'), '--no-cache'], tree.root, scripts));
    rmSync(out, { force: true });
    firstRun.push(await run([join(repo, 'bin/gen-modules.js'), '--no-cache'], tree.root, scripts, { GEN_MODULES_CODE_CACHE: '0' }));
    console.error(`  run ${i + 1}/${runs}: floor ('@') ${floorAt.at(-1)!.ms.toFixed(0)} ms, floor (same pre-filter) ${floor.at(-1)!.ms.toFixed(0)} ms, gen-modules ${cold.at(-1)!.ms.toFixed(0)} ms, without code cache ${firstRun.at(-1)!.ms.toFixed(0)} ms`);
  }
  const floorAtInfo = JSON.parse(floorAt[0]!.stdout) as { files: number; candidates: number };
  const floorInfo = JSON.parse(floor[0]!.stdout) as { files: number; candidates: number };
  const table = readFileSync(out, 'utf8');
  const generated = (table.match(/ load: \(\) => import\(/g) ?? []).length;
  if (generated !== tree.drivers) throw new Error(`gen-modules found ${generated} drivers, the tree has ${tree.drivers}`);
  console.error('  ts-morph Project with the type checker (2 runs)...');
  const morphs = [await run([join(scripts, 'ts-morph.mjs'), tree.root], tree.root, scripts), await run([join(scripts, 'ts-morph.mjs'), tree.root], tree.root, scripts)];
  const morphInfo = JSON.parse(morphs[0]!.stdout) as { drivers: number };
  if (morphInfo.drivers !== tree.drivers) throw new Error(`the ts-morph scan found ${morphInfo.drivers} drivers, the tree has ${tree.drivers}`);
  // A rerun with nothing changed (a pre-commit `--check`): the scan cache, kept in the tree's
  // node_modules/.cache, answers from one stat() per input. Files and folders must have settled
  // for two seconds before a scan is kept.
  console.error('  unchanged reruns (scan cache)...');
  mkdirSync(join(tree.root, 'node_modules'), { recursive: true });
  await new Promise((r) => setTimeout(r, 2100));
  await run([join(repo, 'bin/gen-modules.js'), '--check'], tree.root, scripts);
  const unchanged: Measured[] = [];
  for (let i = 0; i < 3; i++) unchanged.push(await run([join(repo, 'bin/gen-modules.js'), '--check'], tree.root, scripts));
  // A rerun after one file was edited (a constants module, a driver, an ordinary file): the scan
  // cache still vouches for every other file. Each edit is made and then undone (the --watch
  // measure below starts from the original text); the file is dated a few seconds back, as an
  // edit made before the run would be, so that each run may keep its scan for the next.
  console.error('  reruns after one edited file (scan cache)...');
  const edited: Measured[] = [];
  for (const [from, to] of [[0, 1], [1, 0]] as const) {
    for (const edit of tree.edits) {
      const path = join(tree.root, edit.file);
      const texts = [edit.from, edit.to];
      writeFileSync(path, readFileSync(path, 'utf8').replace(texts[from]!, texts[to]!));
      const when = new Date(Date.now() - 5000);
      utimesSync(path, when, when);
      edited.push(await run([join(repo, 'bin/gen-modules.js')], tree.root, scripts));
    }
  }
  console.error('  --watch, one-file changes...');
  const watch = await watchChange(tree, scripts);

  // Minimum of the runs (the least disturbed by other load on the machine) and the median.
  const stat = (list: Measured[]) => ({
    minMs: Math.round(Math.min(...list.map((m) => m.ms))),
    medianMs: Math.round(median(list.map((m) => m.ms))),
    minCpuMs: Math.round(Math.min(...list.map((m) => m.cpuMs))),
    maxRssMb: Math.round(Math.max(...list.map((m) => m.maxRssMb))),
  });
  const c = stat(cold);
  const fr = stat(firstRun);
  const un = stat(unchanged);
  const ed = stat(edited);
  const f = stat(floor);
  const fa = stat(floorAt);
  const m = stat(morphs);
  const watchMs = median(watch.ms);
  results.push({
    files: tree.files,
    drivers: tree.drivers,
    sourceMB: +(tree.bytes / 1e6).toFixed(1),
    floorAt: { ...fa, candidates: floorAtInfo.candidates },
    floor: { ...f, candidates: floorInfo.candidates },
    genModules: { ...c, runsMs: cold.map((x) => Math.round(x.ms)) },
    genModulesFirstRun: { ...fr, runsMs: firstRun.map((x) => Math.round(x.ms)) },
    unchangedRerun: { ...un, runsMs: unchanged.map((x) => Math.round(x.ms)) },
    oneFileEditedRerun: { ...ed, runsMs: edited.map((x) => Math.round(x.ms)) },
    tsMorph: { ...m, runsMs: morphs.map((x) => Math.round(x.ms)) },
    watch: { changeMs: Math.round(watchMs), changesMs: watch.ms.map(Math.round), internalMs: watch.internalMs, startMs: Math.round(watch.coldMs), maxRssMb: Math.round(watch.maxRssMb) },
    ratios: {
      coldOverFloorAt: +(c.minMs / fa.minMs).toFixed(2),
      coldOverFloor: +(c.minMs / f.minMs).toFixed(2),
      coldOverFloorMedians: +(c.medianMs / f.medianMs).toFixed(2),
      cpu: {
        coldOverFloorAt: +(c.minCpuMs / fa.minCpuMs).toFixed(2),
        coldOverFloor: +(c.minCpuMs / f.minCpuMs).toFixed(2),
        tsMorphOverCold: +(m.minCpuMs / c.minCpuMs).toFixed(1),
      },
      tsMorphOverCold: +(m.minMs / c.minMs).toFixed(1),
      tsMorphOverFirstRun: +(m.minMs / fr.minMs).toFixed(1),
      watchChangeOverCold: +(watchMs / c.minMs).toFixed(3),
    },
  });
  if (!keep) rmSync(tree.root, { recursive: true, force: true });
}
rmSync(scripts, { recursive: true, force: true });
if (treesOnly) process.exit(0);

const report = {
  date: new Date().toISOString().slice(0, 10),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), loadAverage: loadavg().map((l) => +l.toFixed(1)), node: process.version },
  runs,
  targets: { coldOverFloorAt: '<= 1.5', tsMorphOverCold: '>= 5', watchChangeOverCold: '<= 0.05' },
  note: "floorAt parses every file with an '@' (the floor as specified); floor uses gen-modules' own pre-filter; ratios use the best of the interleaved runs",
  results,
};
mkdirSync(join(repo, 'bench/results'), { recursive: true });
writeFileSync(join(repo, 'bench/results/scan.json'), `${JSON.stringify(report, null, 2)}\n`);

const rows = results.map((r) => {
  type Stat = { minMs: number; medianMs: number; minCpuMs: number; maxRssMb: number; candidates?: number };
  const x = r as { files: number; drivers: number; floorAt: Stat; floor: Stat; genModules: Stat; genModulesFirstRun: Stat; unchangedRerun: Stat; oneFileEditedRerun: Stat; tsMorph: Stat; watch: { changeMs: number; maxRssMb: number }; ratios: Record<string, number> & { cpu: Record<string, number> } };
  const cell = (s: Stat) => `${s.minMs} ms (median ${s.medianMs}; CPU ${s.minCpuMs}), ${s.maxRssMb} MB`;
  return `| ${x.files} | ${x.drivers} | ${cell(x.floorAt)}, ${x.floorAt.candidates} parsed | ${cell(x.floor)}, ${x.floor.candidates} parsed | ${cell(x.genModules)}; first run on the machine (no code cache) ${x.genModulesFirstRun.minMs} ms | **${x.ratios.coldOverFloorAt}x** / ${x.ratios.coldOverFloor}x (CPU ${x.ratios.cpu.coldOverFloorAt}x / ${x.ratios.cpu.coldOverFloor}x) | ${cell(x.tsMorph)} | **${x.ratios.tsMorphOverCold}x** (CPU ${x.ratios.cpu.tsMorphOverCold}x; first run ${x.ratios.tsMorphOverFirstRun}x) | ${x.watch.changeMs} ms, ${x.watch.maxRssMb} MB | **${(x.ratios.watchChangeOverCold! * 100).toFixed(1)}%** | ${x.unchangedRerun.minMs} ms, ${x.unchangedRerun.maxRssMb} MB | ${x.oneFileEditedRerun.minMs} ms (median ${x.oneFileEditedRerun.medianMs}), ${x.oneFileEditedRerun.maxRssMb} MB |`;
});
console.log(
  [
    `Scan benchmark (${report.machine.cpus} CPUs, Node ${process.version}, load average ${report.machine.loadAverage.join(' ')}; ${runs} interleaved runs: best wall time, median, best CPU time (user + system); wall time = whole process from spawn to exit; memory = peak RSS)`,
    '',
    "| files | drivers | floor: read + '@' + parse | floor: read + gen-modules' pre-filter + parse | gen-modules cold | vs floors (target <= 1.5x) | ts-morph Project + checker | ts-morph / gen-modules (target >= 5x) | --watch one-file change | change / cold (target <= 5%) | unchanged rerun, `--check` (scan cache) | rerun after one edited file (scan cache) |",
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n'),
);
