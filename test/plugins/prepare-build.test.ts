// prepareBuild (plugin/shared.ts) on a rebuild, as an esbuild context and rollup or Vite watch
// call it: nobody tells it what changed. With a scan cache to read, a rebuild scans again only
// the files that changed since the last scan; without one, everything.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prepareBuild } from '../../plugin/shared.js';
import { cleanup, copyApp } from './support/build-app.js';

describe('prepareBuild on a rebuild', () => {
  let app: string | undefined;
  afterEach(() => cleanup(app));

  // The scan cache is written once the caller yields (while the bundler builds): a build in between.
  const build = () => new Promise((resolve) => setImmediate(resolve));

  it.each([true, false])('scan cache %s: a driver edited since the last build is scanned again, with what it now declares', async (scanCache) => {
    app = copyApp('basic');
    if (scanCache) mkdirSync(join(app, 'node_modules'));
    const first = await prepareBuild({ cwd: app }, app);
    await build();
    const alphaProbe = (prepared: typeof first) => JSON.stringify(prepared.result.drivers.find((d) => d.name === 'alpha')!.probes);
    expect(alphaProbe(first)).toContain('ALPHA001');
    const candidates = first.result.stats!.candidates;
    expect(candidates).toBeGreaterThan(1);
    // Read by the literal reader or parsed (a bundler checks the files' syntax: literal-scan.ts).
    const scanned = (prepared: typeof first) => prepared.result.stats!.parsed + prepared.result.stats!.literal;
    expect(first.result.stats!.literal).toBeGreaterThan(0);

    // Same size, written at once: only the content tells.
    const alpha = join(app, 'src/drivers/alpha.ts');
    writeFileSync(alpha, readFileSync(alpha, 'utf8').replace("bytes: 'ALPHA001'", "bytes: 'ALPHA002'"));
    const second = await prepareBuild({ cwd: app }, app, first);
    await build();
    expect(alphaProbe(second)).toContain('ALPHA002');
    // With the cache, the edited file alone; without it every candidate file is read and parsed again.
    expect(scanned(second)).toBe(scanCache ? 1 : candidates);

    const third = await prepareBuild({ cwd: app }, app, second);
    expect(alphaProbe(third)).toContain('ALPHA002');
    if (scanCache) expect(scanned(third)).toBe(0);
  });
});
