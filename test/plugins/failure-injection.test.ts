// Failed loads through the build manifest, on a real esbuild build of fixtures/plugin-apps/basic
// run in Node: a missing chunk is retried once with the same URL and then reported naming the
// driver and the chunk URL, with the registry still usable; a corrupt chunk is reported the same
// way; a chunk from another build is refused naming both build ids, and a process given a newer
// build's manifest loads that build's chunk (its URL carries the build id); and the shared chunks
// of a driver are requested at once, level by level where they import each other.
import { cpSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildManifest } from '../../src/runtime/manifest.js';
import { runNode } from '../support/run-node.js';
import { buildApp, cleanup, copyApp } from './support/build-app.js';

const runner = new URL('./support/load-runner.mjs', import.meta.url).pathname;

interface StepResult {
  ok?: boolean;
  name?: string;
  code?: string;
  errorName?: string;
  driver?: string;
  chunk?: string;
  message?: string;
  marker?: string;
  calls?: string[];
  requestedBeforeAnyLoad?: string[];
  status?: [string, string][];
  loaded?: string[];
}

describe('failed loads through the build manifest (esbuild build, Node)', () => {
  let app: string | undefined;
  let pristine: string;
  let other: string;
  let manifest: BuildManifest;
  let otherManifest: BuildManifest;
  let n = 0;

  beforeAll(async () => {
    app = copyApp('basic');
    pristine = join(app, 'dist-a');
    other = join(app, 'dist-b');
    // Two builds of the same sources that differ only in the entry (a define): another build id,
    // the same chunk names for the drivers.
    await buildApp('esbuild', app, pristine, { variant: 'a' });
    await buildApp('esbuild', app, other, { variant: 'b' });
    manifest = JSON.parse(readFileSync(join(pristine, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
    otherManifest = JSON.parse(readFileSync(join(other, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
  });
  afterAll(() => cleanup(app));

  /** A private copy of the pristine build to break. */
  function freshCopy(): string {
    const dir = mkdtempSync(join(app!, `case-${n++}-`));
    cpSync(pristine, dir, { recursive: true });
    return dir;
  }

  async function run(outdir: string, steps: unknown[]): Promise<StepResult[]> {
    const result = await runNode([runner, outdir, JSON.stringify(steps)]);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as StepResult[];
  }

  const url = (outdir: string, file: string) => pathToFileURL(join(outdir, file)).href;
  /** A driver's own chunk is requested with its build's id (manifest-loader.ts: lazyUrlOf). */
  const lazyUrl = (outdir: string, file: string, of: BuildManifest = manifest) => `${url(outdir, file)}?build=${of.buildId}`;

  it('missing driver chunk: one retry of the same URL, then DriverError naming driver and URL; a later load succeeds', async () => {
    const dir = freshCopy();
    const chunk = manifest.drivers.alpha!.chunk!;
    renameSync(join(dir, chunk), join(dir, `${chunk}.away`));
    const [failed, again, beta, final] = await run(dir, [{ load: 'alpha' }, { copy: [join(dir, `${chunk}.away`), join(dir, chunk)] }, { load: 'alpha' }, { load: 'beta' }]);
    expect(failed).toMatchObject({ ok: false, errorName: 'DriverError', code: 'load-failed', driver: 'alpha', chunk: lazyUrl(dir, chunk) });
    expect(failed!.message).toContain(`format driver 'alpha'`);
    expect(failed!.message).toContain(lazyUrl(dir, chunk));
    expect(failed!.calls!.filter((c) => c === lazyUrl(dir, chunk))).toHaveLength(2);
    // Registry still usable: the same driver loads once the chunk is back, and others load.
    expect(again).toMatchObject({ ok: true, marker: 'alpha-driver-code' });
    expect(beta).toMatchObject({ ok: true, marker: 'beta-driver-code' });
    expect(final!.loaded).toEqual(['alpha', 'beta']);
  });

  it('missing shared chunk: reported naming the driver, its chunk URL and the shared chunk that failed', async () => {
    const dir = freshCopy();
    const shared = manifest.drivers.alpha!.imports[0]!;
    expect(manifest.drivers.beta!.imports).toContain(shared);
    renameSync(join(dir, shared), join(dir, `${shared}.away`));
    const [failed, again] = await run(dir, [{ load: 'alpha' }, { copy: [join(dir, `${shared}.away`), join(dir, shared)] }, { load: 'alpha' }]);
    expect(failed).toMatchObject({ ok: false, code: 'load-failed', driver: 'alpha', chunk: lazyUrl(dir, manifest.drivers.alpha!.chunk!) });
    expect(failed!.message).toContain(`shared chunk ${url(dir, shared)} failed`);
    expect(failed!.calls!.filter((c) => c === url(dir, shared))).toHaveLength(2);
    expect(again).toMatchObject({ ok: true, marker: 'alpha-driver-code' });
  });

  it('corrupt chunk (syntax error): DriverError naming driver and URL after one retry; other drivers still load', async () => {
    const dir = freshCopy();
    const chunk = manifest.drivers.beta!.chunk!;
    writeFileSync(join(dir, chunk), 'export const broken = ;\n');
    const [failed, alpha, final] = await run(dir, [{ load: 'beta' }, { load: 'alpha' }]);
    expect(failed).toMatchObject({ ok: false, code: 'load-failed', driver: 'beta', chunk: lazyUrl(dir, chunk) });
    expect(failed!.message).toMatch(/SyntaxError|Unexpected token/);
    expect(failed!.message).toContain(lazyUrl(dir, chunk));
    expect(failed!.calls!.filter((c) => c === lazyUrl(dir, chunk))).toHaveLength(2);
    expect(alpha).toMatchObject({ ok: true, marker: 'alpha-driver-code' });
    expect(Object.fromEntries(final!.status!)).toMatchObject({ alpha: 'loaded', beta: 'failed', gamma: 'builtin', delta: 'unavailable' });
  });

  it('a chunk from another build is refused, naming the driver, the chunk and both build ids', async () => {
    expect(otherManifest.buildId).not.toBe(manifest.buildId);
    const chunk = manifest.drivers.alpha!.chunk!;
    // Same sources, same chunk name; only the build differs.
    expect(otherManifest.drivers.alpha!.chunk).toBe(chunk);
    const dir = freshCopy();
    cpSync(join(other, chunk), join(dir, chunk));
    const [refused, beta] = await run(dir, [{ load: 'alpha' }, { load: 'beta' }]);
    expect(refused).toMatchObject({ ok: false, errorName: 'DriverError', code: 'wrong-build', driver: 'alpha', chunk: lazyUrl(dir, chunk) });
    expect(refused!.message).toContain(otherManifest.buildId);
    expect(refused!.message).toContain(manifest.buildId);
    expect(refused!.message).toContain(lazyUrl(dir, chunk));
    expect(beta).toMatchObject({ ok: true });
  });

  // Node keeps a module per URL for the life of the process: a registry opened on a newer build's
  // manifest (same folder, same chunk name, other bytes: the build id) loads that build's chunk,
  // because the URL carries the build id, instead of the module already loaded from the old one.
  it('a process that loaded a driver loads it again from a newer build in the same folder', async () => {
    const chunk = manifest.drivers.alpha!.chunk!;
    expect(otherManifest.drivers.alpha!.chunk).toBe(chunk);
    const dir = freshCopy();
    const newer = [join(other, chunk), join(other, 'gen-modules-manifest.json')].map((from) => ({ copy: [from, join(dir, from.slice(other.length + 1))] }));
    const [first, second, final] = await run(dir, [{ load: 'alpha' }, ...newer, { reopen: true }, { load: 'alpha' }]);
    expect(first).toMatchObject({ ok: true, calls: [...manifest.drivers.alpha!.imports.map((f) => url(dir, f)), lazyUrl(dir, chunk)] });
    expect(second).toMatchObject({ ok: true, marker: 'alpha-driver-code', calls: [...otherManifest.drivers.alpha!.imports.map((f) => url(dir, f)), lazyUrl(dir, chunk, otherManifest)] });
    expect(final).toMatchObject({ loaded: ['alpha'], buildId: otherManifest.buildId });
  });

  // Shared chunks that import each other: Node 20 keeps a module whose static import failed failed
  // for its URL, even once the file is back, so a chunk is requested only after the chunks it
  // imports (the manifest's chunks[].imports); a missing one then fails alone, and once it is
  // back the driver loads.
  describe('a shared chunk that imports another', () => {
    let nested: string;
    let nestedManifest: BuildManifest;
    beforeAll(async () => {
      // codec.ts imports bits.ts, which epsilon imports too: bits gets a chunk of its own, which
      // the codec chunk (alpha's and beta's) imports.
      writeFileSync(join(app!, 'src/shared/bits.ts'), `export const BITS = [1, 2, 4, 8, 16, 32, 64, 128];\nexport const bit = (n: number): number => BITS[n & 7]!;\n`);
      const codec = readFileSync(join(app!, 'src/shared/codec.ts'), 'utf8');
      writeFileSync(join(app!, 'src/shared/codec.ts'), `import { bit } from './bits.js';\n${codec.replace('(sum * 31 + CODEC_TABLE[byte]!)', '(sum * 31 + CODEC_TABLE[byte]! + bit(byte))')}`);
      writeFileSync(
        join(app!, 'src/drivers/epsilon.ts'),
        `import { blockDriver } from 'gen-modules/runtime';\nimport { bit } from '../shared/bits.js';\n@blockDriver({ format: 'epsilon' })\nexport class EpsilonDriver {\n  static readonly marker = 'epsilon-driver-code';\n  first(): number {\n    return bit(0);\n  }\n}\n`,
      );
      nested = join(app!, 'dist-nested');
      await buildApp('esbuild', app!, nested);
      nestedManifest = JSON.parse(readFileSync(join(nested, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
    });

    const layers = () => {
      const alpha = nestedManifest.drivers.alpha!;
      const bits = nestedManifest.drivers.epsilon!.imports;
      expect(bits).toHaveLength(1);
      const codec = alpha.imports.filter((f) => f !== bits[0]);
      expect(codec).toHaveLength(1);
      expect(nestedManifest.chunks[codec[0]!]!.imports).toEqual(bits);
      return { alpha: alpha.chunk!, codec: codec[0]!, bits: bits[0]! };
    };

    it('the imported chunk missing once: the load fails naming it; once it is back, the driver loads', async () => {
      const { alpha, bits } = layers();
      const dir = mkdtempSync(join(app!, 'nested-'));
      cpSync(nested, dir, { recursive: true });
      renameSync(join(dir, bits), join(dir, `${bits}.away`));
      const [failed, again, final] = await run(dir, [{ load: 'alpha' }, { copy: [join(dir, `${bits}.away`), join(dir, bits)] }, { load: 'alpha' }]);
      expect(failed).toMatchObject({ ok: false, code: 'load-failed', driver: 'alpha', chunk: lazyUrl(dir, alpha, nestedManifest) });
      expect(failed!.message).toContain(`shared chunk ${url(dir, bits)} failed`);
      expect(again).toMatchObject({ ok: true, marker: 'alpha-driver-code' });
      expect(final!.loaded).toEqual(['alpha']);
    });

    it('each level of shared chunks is requested at once, the importing level after it, the driver chunk last', async () => {
      const { alpha, codec, bits } = layers();
      const [gated] = await run(nested, [{ gated: 'alpha' }]);
      expect(gated).toMatchObject({ ok: true, marker: 'alpha-driver-code' });
      expect(gated!.requestedBeforeAnyLoad).toEqual([url(nested, bits)]);
      expect(gated!.calls).toEqual([url(nested, bits), url(nested, codec), lazyUrl(nested, alpha, nestedManifest)]);
    });
  });

  it("requests all shared chunks of a driver at once (no waterfall), and a probe module through the manifest", async () => {
    const [gated] = await run(pristine, [{ gated: 'beta' }]);
    expect(gated!.ok).toBe(true);
    const beta = manifest.drivers.beta!;
    expect(beta.imports.length).toBeGreaterThan(0);
    // Every shared chunk was requested at once (none imports another here), while none could have
    // loaded yet; the driver chunk follows as soon as they are in.
    expect(new Set(gated!.requestedBeforeAnyLoad)).toEqual(new Set(beta.imports.map((f) => url(pristine, f))));
    expect(gated!.calls).toEqual([...gated!.requestedBeforeAnyLoad!, lazyUrl(pristine, beta.chunk!)]);
    // The bundle's own path: probe -> probe module chunk -> driver chunk, all from the manifest.
    const image = join(app!, 'text.img');
    writeFileSync(image, 'beta-text\nsome text\n');
    const cli = await runNode([join(pristine, 'main.mjs'), 'read', image]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ format: 'beta', loaded: ['beta'], variant: 'a' });
  });
});
