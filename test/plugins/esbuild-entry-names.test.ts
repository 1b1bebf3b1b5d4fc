// esbuild names every entry through one entryNames template; the plugin adds [dir] and [hash] to it
// for the lazy chunks (drivers/<name>-<hash>.js) and renames the application's own entries back
// afterwards. Those must come out where plain esbuild puts them, under the user's template, and
// run: an entry moved to another folder would import its shared chunks by the wrong relative path.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '../support/run-node.js';
import { writeFiles } from '../support/files.js';
import { buildApp, cleanup, copyApp, esbuildBaseOptions } from './support/build-app.js';

/** The files of the application's entries (and their CSS) in a build's metafile, relative to `out`. */
function entryOutputs(metafile: Metafile, app: string, out: string, entries: readonly string[]): string[] {
  const files: string[] = [];
  for (const [output, info] of Object.entries(metafile.outputs)) {
    if (!info.entryPoint || !entries.includes(info.entryPoint) || output.endsWith('.map')) continue;
    files.push(relative(out, join(app, output)));
    if (info.cssBundle) files.push(relative(out, join(app, info.cssBundle)));
  }
  // esbuild's hash of an entry covers the names of the chunks it imports, which differ with the plugin.
  return files.map((f) => f.replace(/-[A-Z0-9]{8}\./, '-HASH.')).sort();
}

describe('esbuild: the application entries under the user entryNames', () => {
  let app: string | undefined;
  let image: string;
  beforeAll(() => {
    app = copyApp('basic');
    writeFiles(app, {
      'src/extra/second.ts': `import { openRegistry } from '../core/app.js';\nimport './second.css';\nprocess.stdout.write(\`\${openRegistry({}).list().length}\\n\`);\n`,
      'src/extra/second.css': `body { color: teal; }\n`,
    });
    image = join(app, 'alpha.img');
    writeFileSync(image, 'ALPHA001 and more\n');
  });
  afterAll(() => cleanup(app));

  const both = ['src/main.ts', 'src/extra/second.ts'];
  const cases: [string, Partial<BuildOptions>, string[]][] = [
    ['an entry whose out names a folder, entryNames [name]', { entryPoints: [{ in: 'src/main.ts', out: 'bin/main' }], entryNames: '[name]' }, ['src/main.ts']],
    ['two string entries in different folders, entryNames [name]', { entryPoints: both, entryNames: '[name]' }, both],
    ['entryNames [ext]/[name]', { entryPoints: both, entryNames: '[ext]/[name]' }, both],
    ['a glob, entryNames [dir]/[name]-[hash]', { entryPoints: ['src/ma*.ts', 'src/extra/*.ts'], entryNames: '[dir]/[name]-[hash]' }, both],
  ];
  it.each(cases)('%s: the names plain esbuild gives, and they run', async (_label, options, entries) => {
    const out = join(app!, `dist-${cases.findIndex((c) => c[1] === options)}`);
    let metafile: Metafile | undefined;
    await buildApp('esbuild', app!, out, { esbuild: { ...options, metafile: true }, onEsbuildResult: (r) => (metafile = r.metafile) });
    const manifest = JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as { drivers: Record<string, { chunk?: string }> };
    // The same application built without the plugin (its table is the one the plugin generated).
    const plainOut = `${out}-plain`;
    const plain = await build({ ...esbuildBaseOptions(app!, plainOut), splitting: true, logLevel: 'silent', metafile: true, ...options });
    expect(entryOutputs(metafile!, app!, out, entries)).toEqual(entryOutputs(plain.metafile!, app!, plainOut, entries));
    const mainFile = Object.keys(metafile!.outputs).map((f) => relative(out, join(app!, f))).find((f) => /(^|\/)main(-\w+)?\.mjs$/.test(f))!;
    expect(existsSync(join(out, mainFile))).toBe(true);
    const run = await runNode([join(out, mainFile), 'read', image]);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ format: 'alpha' });
    // The lazy chunks follow the user's template too, with drivers/ and a hash.
    expect(manifest.drivers.alpha!.chunk).toMatch(/^(mjs\/)?drivers\/alpha-\w+\.mjs$/);
  });
});

describe('esbuild: a glob entry point is an entry of the laziness guard', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = copyApp('guard');
  });
  afterAll(() => cleanup(app));

  it('src/m*.ts reaching a module driver statically fails the build with the chain', async () => {
    const error = await buildApp('esbuild', app!, join(app!, 'dist'), { esbuild: { entryPoints: ['src/m*.ts'] } }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error, 'the build must fail').toBeDefined();
    expect(error!.message).toContain(`module driver 'alpha' (src/drivers/alpha.ts) is reachable from an entry through static imports`);
  });
});
