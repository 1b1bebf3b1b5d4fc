// The generated tables, used the way an application uses them: built-in, module and disabled
// drivers through the runtime's registry, another registry's table consumed by the same runtime,
// and both tables type-checked by tsc.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { compileProbeIndex } from '../../src/probe/compile.js';
import { probeModulePath } from '../../src/scanner/scan.js';
import { repoRoot } from '../support/paths.js';
import { writeFiles } from '../support/files.js';

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

async function project(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'gm-tables-'));
  writeFiles(root, {
    'gen-modules.config.json': JSON.stringify({
      drivers: ['src/drivers/*.ts', 'src/chardev/*.ts'],
      out: 'src/generated/drivers.gen.ts',
      states: { qcow: 'disabled', raw: 'builtin' },
      registries: { charDriver: { out: 'src/generated/chardev.gen.ts', states: { stdio: 'disabled' } } },
    }),
    'src/drivers/qcow.ts': `${head}@blockDriver({ format: 'qcow', probe: { score: 100, match: { at: 0, bytes: 'QFI\\xfb' } } })\nexport class QcowDriver {}\n`,
    'src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw' })\nexport class RawDriver {}\n`,
    'src/drivers/vmdk.ts': `${head}@blockDriver({ format: 'vmdk', probe: { score: 100, match: { at: 0, bytes: 'KDMV' } } })\nexport default class VmdkDriver {}\n`,
    'src/drivers/nbd.ts': `${head}@blockDriver({ protocol: 'nbd', prefixes: ['nbd://'] })\nexport class NbdProtocol {}\n`,
    'src/chardev/decorator.ts': `import { createDriverDecorator } from 'gen-modules/runtime';\nexport interface CharOptions { name: string; description?: string; baud?: number }\nexport const charDriver = createDriverDecorator<CharOptions>('charDriver', ['name']);\n`,
    'src/chardev/pty.ts': `import { charDriver } from './decorator.js';\n@charDriver({ name: 'pty', description: 'pseudo terminal', baud: 115200 })\nexport class PtyChardev {}\n`,
    'src/chardev/stdio.ts': `import { charDriver } from './decorator.js';\n@charDriver({ name: 'stdio' })\nexport class StdioChardev {}\n`,
  });
  const result = await generateFromConfig(await loadConfig(undefined, root));
  expect(result.diagnostics).toEqual([]);
  return root;
}

/**
 * Bundles `src/main.ts` of the project with esbuild (code splitting, as an application build
 * would) and runs it in a child process; main prints one JSON line.
 */
async function runBundled(root: string, main: string): Promise<Record<string, unknown>> {
  writeFiles(root, { 'src/main.ts': main });
  const { build } = await import('esbuild');
  await build({
    absWorkingDir: root,
    entryPoints: ['src/main.ts'],
    outdir: 'out',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outExtension: { '.js': '.mjs' },
    alias: { 'gen-modules/runtime': join(repoRoot, 'src/runtime/index.ts') },
    logLevel: 'silent',
  });
  const run = spawnSync(process.execPath, [join(root, 'out/main.mjs')], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

const FAILURE = `const failure = (p: Promise<unknown>) => p.then(() => 'no error', (e: { code?: string; message: string }) => ({ code: e.code, message: e.message }));`;

describe('generated tables at run time', () => {
  it('serve builtin and module drivers and say a disabled one is not available in this build', async () => {
    const root = await project();
    const out = await runBundled(
      root,
      [
        `import { createDriverRegistry } from 'gen-modules/runtime';`,
        `import { driverTable } from './generated/drivers.gen.js';`,
        FAILURE,
        `const registry = createDriverRegistry(driverTable);`,
        `const list = registry.list().map((d) => \`\${d.name}:\${d.state}:\${d.status}\`);`,
        `const disabled = await failure(registry.load('qcow'));`,
        `const unknown = await failure(registry.load('qcow3'));`,
        `const raw = ((await registry.load('raw')) as { name: string }).name;`,
        `const vmdk = ((await registry.load('vmdk')) as { name: string }).name;`,
        `const head = new Uint8Array(512); head.set([0x51, 0x46, 0x49, 0xfb]);`,
        `const probed = (await registry.probe({ head, tail: new Uint8Array(0), size: 512, filename: 'x.qcow' })).format;`,
        `console.log(JSON.stringify({ list, disabled, unknown, raw, vmdk, loaded: registry.loadedDrivers(), nbd: registry.findProtocol('nbd://h/e'), probed }));`,
      ].join('\n'),
    );
    expect(out).toEqual({
      list: ['qcow:disabled:unavailable', 'raw:builtin:builtin', 'vmdk:module:not-loaded', 'nbd:module:not-loaded'],
      disabled: { code: 'not-available', message: 'format qcow is not available in this build' },
      unknown: { code: 'unknown-driver', message: expect.stringContaining("unknown driver 'qcow3'") },
      raw: 'RawDriver',
      vmdk: 'VmdkDriver',
      loaded: ['vmdk'],
      nbd: { name: 'nbd', prefix: 'nbd://' },
      // The disabled driver is left out of the probe index: its magic is not claimed.
      probed: 'raw',
    });
  });

  it("give another registry its own typed table that the runtime's registry consumes", async () => {
    const root = await project();
    const text = readFileSync(join(root, 'src/generated/chardev.gen.ts'), 'utf8');
    expect(text).toContain('export type DriverName = "pty" | "stdio";');
    expect(readFileSync(join(root, 'src/generated/drivers.gen.ts'), 'utf8')).not.toContain('pty');
    const out = await runBundled(
      root,
      [
        `import { createDriverRegistry } from 'gen-modules/runtime';`,
        `import { driverTable, driverOptions } from './generated/chardev.gen.js';`,
        FAILURE,
        `const registry = createDriverRegistry(driverTable);`,
        `const pty = ((await registry.load('pty')) as { name: string }).name;`,
        `const stdio = await failure(registry.load('stdio'));`,
        `console.log(JSON.stringify({ registry: driverTable.registry, options: driverOptions, pty, stdio, probeIndex: driverTable.probeIndex }));`,
      ].join('\n'),
    );
    expect(out).toEqual({
      registry: 'charDriver',
      options: { pty: { name: 'pty', description: 'pseudo terminal', baud: 115200 }, stdio: { name: 'stdio' } },
      pty: 'PtyChardev',
      stdio: { code: 'not-available', message: 'charDriver stdio is not available in this build' },
      probeIndex: JSON.parse(JSON.stringify(compileProbeIndex([], probeModulePath).index)),
    });
  });

  it('type-check with tsc', async () => {
    const root = await project();
    writeFiles(root, {
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          verbatimModuleSyntax: true,
          types: [],
          paths: { 'gen-modules/runtime': [join(repoRoot, 'src/runtime/index.ts')] },
        },
        include: ['src'],
      }),
      'src/use.ts': [
        `import { createDriverRegistry } from 'gen-modules/runtime';`,
        `import { driverTable, type DriverName, type FormatName } from './generated/drivers.gen.js';`,
        `import { driverTable as charTable, driverOptions, type DriverName as CharName } from './generated/chardev.gen.js';`,
        `const format: FormatName = 'vmdk';`,
        `const name: DriverName = 'nbd';`,
        `const char: CharName = 'pty';`,
        `const baud: 115200 = driverOptions.pty.baud;`,
        `// @ts-expect-error not a driver of this build`,
        `const wrong: DriverName = 'qcow3';`,
        `export const registries = [createDriverRegistry(driverTable), createDriverRegistry(charTable), format, name, char, baud, wrong];`,
      ].join('\n'),
    });
    const tsc = spawnSync(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
