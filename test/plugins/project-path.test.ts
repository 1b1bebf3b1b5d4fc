// A project folder whose path has spaces, '#' and a non-ASCII letter (a Windows or macOS user's
// "My Projects"): the table's import paths, the lazy chunk names, the manifest and the runtime's
// chunk URLs (where '#' and ' ' must be escaped) all hold in all three bundlers.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parseManifest } from '../../src/runtime/manifest.js';
import { runNode } from '../support/run-node.js';
import { BUNDLERS, buildApp, cleanup, copyApp } from './support/build-app.js';

const MAIN = [
  `import { readFileSync } from 'node:fs';`,
  `import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';`,
  `import { driverTable } from './generated/drivers.gen.js';`,
  `const manifest = parseManifest(readFileSync(new URL('./gen-modules-manifest.json', import.meta.url), 'utf8'));`,
  `const registry = createDriverRegistry(driverTable, { manifest, baseUrl: new URL('./', import.meta.url).href });`,
  `const Alpha = await registry.load<new () => { kind: string }>('alpha');`,
  `console.log(JSON.stringify({ kind: new Alpha().kind, loaded: registry.loadedDrivers() }));`,
  ``,
].join('\n');

it.each(BUNDLERS)('%s: a project path with spaces, # and a non-ASCII letter builds, and its driver loads from its chunk', async (bundler) => {
  const parent = mkdtempSync(join(tmpdir(), 'gen-modules path ü-'));
  try {
    const app = join(parent, 'My Project #1 ü');
    mkdirSync(app);
    copyApp('guard', app);
    writeFileSync(join(app, 'src/core/boot.ts'), `export function bootDrivers(): string {\n  return 'none';\n}\n`);
    writeFileSync(join(app, 'src/main.ts'), MAIN);
    const out = join(app, 'dist #out');
    expect(await buildApp(bundler, app, out)).toEqual([]);
    const manifest = parseManifest(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8'));
    expect(manifest.drivers['alpha']?.chunk).toMatch(/^drivers\/alpha-[\w-]+\.mjs$/);
    const run = await runNode([join(out, 'main.mjs')]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ kind: 'alpha', loaded: ['alpha'] });
  } finally {
    cleanup(parent);
  }
});
