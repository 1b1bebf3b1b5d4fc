// As a new user would: `npm pack` the package (prepack builds dist/ and the type declarations),
// install the tarball with esbuild, rollup and Vite into an empty project, write a tiny app with
// two drivers and build it with each bundler through the documented entry points
// (`gen-modules/esbuild`, `/rollup`, `/vite`, each with no options: the config is found in the
// working directory), then run each build in Node.
// The package is packed from a staging copy of the sources, so that its prepack step does not
// replace the repository's dist/ while other test files use it.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, cleanup } from './support/build-app.js';
import { writeFiles } from '../support/files.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const version = (name: string) => (JSON.parse(readFileSync(`${repoRoot}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;

/** Runs a command; its stdout, and its stderr in `log` (npm's warnings). */
function sh(command: string, args: string[], cwd: string, log?: string[]): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${result.stdout}\n${result.stderr}`);
  log?.push(result.stderr);
  return result.stdout;
}

const files: Record<string, string> = {
  'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }, null, 2),
  'src/drivers/lines.ts': `import { blockDriver } from 'gen-modules/runtime';
import { count } from '../util/count.js';

@blockDriver({ format: 'lines', probe: { score: 100, match: [{ minLength: 5 }, { at: 0, bytes: 'LINES' }] } })
export class LinesDriver {
  summary(text: string): string {
    return \`\${count(text, '\\n')} lines\`;
  }
}
`,
  'src/drivers/words.ts': `import { blockDriver } from 'gen-modules/runtime';
import { count } from '../util/count.js';

@blockDriver({ format: 'words', probe: { score: 100, match: [{ minLength: 5 }, { at: 0, bytes: 'WORDS' }] } })
export class WordsDriver {
  summary(text: string): string {
    return \`\${count(text, ' ') + 1} words\`;
  }
}
`,
  'src/util/count.ts': `export function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}
`,
  'src/main.ts': `import { readFileSync } from 'node:fs';
import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';
import { driverTable } from './generated/drivers.gen.js';

const manifest = parseManifest(readFileSync(new URL('./gen-modules-manifest.json', import.meta.url), 'utf8'));
const registry = createDriverRegistry(driverTable, { manifest, baseUrl: new URL('./', import.meta.url) });
const text = 'WORDS one two three';
const probe = await registry.probe({ head: new TextEncoder().encode(text), tail: new Uint8Array(0), size: text.length, filename: 'x' });
const Driver = await registry.load<new () => { summary(text: string): string }>(probe.format);
console.log(JSON.stringify({ format: probe.format, summary: new Driver().summary(text), loaded: registry.loadedDrivers(), chunks: registry.list().map((d) => d.chunk) }));
`,
  'build-esbuild.mjs': `import { build } from 'esbuild';
import genModules from 'gen-modules/esbuild';

await build({
  entryPoints: { main: 'src/main.ts' },
  outdir: 'dist-esbuild',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  format: 'esm',
  platform: 'node',
  plugins: [genModules()],
});
`,
  'build-rollup.mjs': `import { rollup } from 'rollup';
import genModules from 'gen-modules/rollup';

const bundle = await rollup({
  input: { main: 'src/main.ts' },
  external: [/^node:/, /^gen-modules/],
  plugins: [genModules({ typescript: true })],
});
await bundle.write({ dir: 'dist-rollup', format: 'es', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' });
await bundle.close();
`,
  'build-vite.mjs': `import { build } from 'vite';
import genModules from 'gen-modules/vite';

await build({
  configFile: false,
  logLevel: 'warn',
  plugins: [genModules()],
  build: {
    ssr: true,
    outDir: 'dist-vite',
    target: 'node20',
    rollupOptions: { input: { main: 'src/main.ts' }, output: { entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' } },
  },
});
`,
};

describe('consumer: the packed package in a fresh project', () => {
  let tmp: string | undefined;
  let project: string;
  const installLog: string[] = [];

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'gen-modules-consumer-'));
    const stage = join(tmp, 'stage');
    mkdirSync(stage);
    for (const entry of ['package.json', 'README.md', 'bin', 'src', 'plugin', 'scripts', 'tsconfig.json', 'tsconfig.build.json']) {
      if (existsSync(join(repoRoot, entry))) cpSync(join(repoRoot, entry), join(stage, entry), { recursive: true });
    }
    symlinkSync(join(repoRoot, 'node_modules'), join(stage, 'node_modules'), 'dir');
    sh(npm, ['pack', '--pack-destination', tmp], stage);
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!;
    project = join(tmp, 'project');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    sh(npm, ['install', join(tmp, tarball), `esbuild@${version('esbuild')}`, `rollup@${version('rollup')}`, `vite@${version('vite')}`, '--prefer-offline'], project, installLog);
    writeFiles(project, files);
  }, 400_000);
  afterAll(() => cleanup(tmp));

  it('installs without an install script for npm to warn about (the package is built before packing)', () => {
    const pkg = JSON.parse(readFileSync(join(project, 'node_modules/gen-modules/package.json'), 'utf8')) as { scripts?: Record<string, string> };
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts?.[script], script).toBeUndefined();
    // (esbuild's own postinstall is listed: that one is esbuild's.)
    expect(installLog.join('')).not.toMatch(/gen-modules@/);
  });

  it('ships every entry point with its type declarations', () => {
    const pkg = join(project, 'node_modules/gen-modules');
    for (const entry of ['index', 'runtime', 'esbuild', 'rollup', 'vite']) expect(existsSync(join(pkg, 'dist', `${entry}.js`)), entry).toBe(true);
    for (const types of ['src/index.d.ts', 'src/runtime/index.d.ts', 'plugin/esbuild.d.ts', 'plugin/rollup.d.ts', 'plugin/vite.d.ts']) {
      expect(existsSync(join(pkg, 'dist/types', types)), types).toBe(true);
    }
  });

  it.each(BUNDLERS)('%s: builds through its documented entry point and runs in Node, loading one driver chunk', async (bundler) => {
    sh(process.execPath, [`build-${bundler}.mjs`], project);
    const out = join(project, `dist-${bundler}`);
    const manifest = JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as { bundler: string; drivers: Record<string, { chunk: string }> };
    expect(manifest.bundler).toBe(bundler);
    expect(Object.keys(manifest.drivers).sort()).toEqual(['lines', 'words']);
    expect(manifest.drivers.words!.chunk).toMatch(/^drivers\/words-[\w-]{8}\.mjs$/);
    expect(manifest.drivers.lines!.chunk).toMatch(/^drivers\/lines-[\w-]{8}\.mjs$/);
    const run = await runNode([join(out, 'main.mjs')], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { format: string; summary: string; loaded: string[]; chunks: string[] };
    expect(result).toMatchObject({ format: 'words', summary: '4 words', loaded: ['words'] });
    expect(result.chunks.sort()).toEqual([manifest.drivers.lines!.chunk, manifest.drivers.words!.chunk].sort());
  });
});
