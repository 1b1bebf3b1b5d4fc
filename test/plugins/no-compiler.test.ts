// A bundler build of driver files whose decorators take plain literals loads no TypeScript
// compiler, even when the plugin scans every file (no scan cache) and the tsconfig.json has
// comments and trailing commas (src/scanner/literal-scan.ts, src/scanner/tsconfig-paths.ts). A
// driver that names a constant still needs the compiler, and gets it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { registryFromManifest } from '../support/app-main.js';
import { writeFiles } from '../support/files.js';
import { repoRoot } from '../support/paths.js';
import { noteCompilerReads } from '../support/compiler-reads.js';
import { runNode } from '../support/run-node.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

function app(drivers: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gen-modules-no-compiler-'));
  dirs.push(dir);
  writeFiles(dir, {
    'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }),
    'tsconfig.base.json': `{\n  // Shared settings.\n  "compilerOptions": { "target": "ES2022", "experimentalDecorators": true, },\n}\n`,
    'tsconfig.json': `/* The project. */\n{\n  "extends": "./tsconfig.base.json",\n  "compilerOptions": {\n    "strict": true,\n    "paths": { "@shared/*": ["./src/shared/*"], },\n  },\n}\n`,
    'src/shared/magic.ts': `export const MAGIC = 'CONST';\n`,
    ...drivers,
    'src/main.ts': [
      ...registryFromManifest,
      `const bytes = new TextEncoder().encode('PLAIN-01' + ' '.repeat(504));`,
      `process.stdout.write(JSON.stringify({ probed: (await registry.probe({ head: bytes, tail: new Uint8Array(0), size: bytes.length, filename: 'x.img' })).format, loaded: typeof (await registry.load('plain')) }) + '\\n');`,
      ``,
    ].join('\n'),
  });
  return dir;
}

/** Builds the app with the published esbuild plugin in a fresh process, every file scanned; whether the compiler's file was read. */
async function build(dir: string): Promise<{ compiler: boolean }> {
  const script = [
    ...noteCompilerReads,
    `const { build } = await import('esbuild');`,
    `const { default: genModules } = await import(${JSON.stringify(`${repoRoot}dist/esbuild.js`)});`,
    `const app = ${JSON.stringify(dir)};`,
    `await build({ absWorkingDir: app, entryPoints: [app + '/src/main.ts'], outdir: app + '/dist', outExtension: { '.js': '.mjs' }, bundle: true, format: 'esm', platform: 'node', logLevel: 'error',`,
    `  alias: { 'gen-modules/runtime': ${JSON.stringify(`${repoRoot}src/runtime/index.ts`)} }, plugins: [genModules({ cwd: app })] });`,
    `process.stdout.write(JSON.stringify({ compiler }));`,
  ].join('\n');
  const run = await runNode(['--input-type=module', '-e', script], { cwd: repoRoot, env: { ...process.env, GEN_MODULES_CACHE: '0' } });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as { compiler: boolean };
}

describe('a plugin build of plain-literal drivers', () => {
  it('loads no compiler, with every file scanned and a tsconfig.json with comments and trailing commas', async () => {
    const dir = app({
      'src/drivers/plain.ts': `${head}@blockDriver({ format: 'plain', probe: { score: 100, match: { at: 0, bytes: 'PLAIN-01' } } })\nexport class Plain {}\n`,
      'src/drivers/other.ts': `${head}// Another.\n@blockDriver({\n  format: 'other',\n  probe: { score: 100, match: [{ at: 0, bytes: 'OTHER\\x2d01' }] },\n})\nexport class Other {}\n`,
    });
    expect(await build(dir)).toEqual({ compiler: false });
    const run = await runNode([join(dir, 'dist/main.mjs')]);
    expect(JSON.parse(run.stdout)).toEqual({ probed: 'plain', loaded: 'function' });
  });

  it('loads the compiler for a driver that names a constant (through the tsconfig paths)', async () => {
    const dir = app({
      'src/drivers/plain.ts': `${head}@blockDriver({ format: 'plain', probe: { score: 100, match: { at: 0, bytes: 'PLAIN-01' } } })\nexport class Plain {}\n`,
      'src/drivers/named.ts': `${head}import { MAGIC } from '@shared/magic';\n@blockDriver({ format: 'named', probe: { score: 100, match: { at: 0, bytes: MAGIC } } })\nexport class Named {}\n`,
    });
    expect(await build(dir)).toEqual({ compiler: true });
    const run = await runNode([join(dir, 'dist/main.mjs')]);
    expect(JSON.parse(run.stdout)).toEqual({ probed: 'plain', loaded: 'function' });
  });
});
