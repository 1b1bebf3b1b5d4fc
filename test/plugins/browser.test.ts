// The browser path of manifest loading, in Chromium: a driver's chunk and its shared chunks are
// preloaded at once with <link rel="modulepreload" integrity="sha384-...">, so the shared chunk
// is requested before the driver chunk has even arrived (no waterfall), and a chunk whose bytes do
// not match the manifest's SRI value is refused. A driver's stylesheet is linked with its SRI
// value and applied before the load resolves; a missing one fails the load, naming it. A new build
// served over an HTTP cache that keeps hashed names for good still gets its own driver chunk. The app is
// fixtures/plugin-apps/basic's browser entry, built for the browser with esbuild and with a Vite
// client build (Vite's defaults: chunks under assets/, its own preload helper and modulepreload
// polyfill), served from 127.0.0.1.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildManifest } from '../../src/runtime/manifest.js';
import { repoRoot } from '../support/paths.js';
import { requireTool } from '../support/system.js';
import { cleanup, copyApp } from './support/build-app.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => {
  try {
    readFileSync(p);
    return true;
  } catch {
    return false;
  }
});
const available = requireTool(CHROMIUM ?? 'chromium', 'the modulepreload test');

/** Builds the basic app's browser entry into `out` (entry `browser.js` at its root). */
async function buildForBrowser(bundler: 'esbuild' | 'vite', app: string, out: string): Promise<void> {
  const runtime = `${repoRoot}src/runtime/index.ts`;
  if (bundler === 'esbuild') {
    const { build } = await import('esbuild');
    const { default: genModules } = await import('gen-modules/esbuild');
    await build({
      absWorkingDir: app,
      entryPoints: { browser: 'src/browser.ts' },
      outdir: out,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      alias: { 'gen-modules/runtime': runtime },
      logLevel: 'silent',
      plugins: [genModules({ cwd: app })],
    });
    return;
  }
  // A Vite client build with its defaults (chunks under assets/, its modulepreload polyfill, its
  // preload helper around the table's import() calls); only the entry's name is fixed.
  const { build } = await import('vite');
  const { default: genModules } = await import('gen-modules/vite');
  await build({
    configFile: false,
    root: app,
    logLevel: 'silent',
    resolve: { alias: { 'gen-modules/runtime': runtime } },
    plugins: [genModules({ cwd: app })],
    build: { outDir: out, emptyOutDir: true, target: 'es2022', rollupOptions: { input: { browser: join(app, 'src/browser.ts') }, output: { entryFileNames: '[name].js' } } },
  });
}

describe.runIf(available).each(['esbuild', 'vite'] as const)('modulepreload in Chromium (%s build)', (bundler) => {
  let app: string | undefined;
  let out: string;
  let manifest: BuildManifest;
  let server: Server;
  let origin: string;
  const log: { path: string; event: 'request' | 'response'; at: number }[] = [];
  /** Paths answered late (to widen the window a waterfall would show in) or with other bytes. */
  const slow = new Set<string>();
  const tampered = new Set<string>();
  const missing = new Set<string>();
  /** The output folder served; with `immutable`, files with hashed names are served to be cached for good, as deployments do. */
  let serving: string;
  let immutable = false;

  beforeAll(async () => {
    app = copyApp('basic');
    // alpha imports a stylesheet: the manifest lists it (Vite's CSS code splitting, esbuild's CSS
    // bundle of the entry) and the runtime links it with its SRI value.
    writeFileSync(join(app, 'src/drivers/alpha.css'), '.alpha-styled { color: rgb(1, 2, 3); }\n');
    writeFileSync(join(app, 'src/drivers/alpha.ts'), `import './alpha.css';\n${readFileSync(join(app, 'src/drivers/alpha.ts'), 'utf8')}`);
    out = join(app, 'dist-browser');
    await buildForBrowser(bundler, app, out);
    serving = out;
    manifest = JSON.parse(readFileSync(join(out, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
    server = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).slice(1) || 'index.html';
      log.push({ path, event: 'request', at: performance.now() });
      const send = () => {
        if (path === 'index.html') {
          res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><script type="module" src="./browser.js"></script>');
        } else {
          let body: Buffer;
          if (missing.has(path)) {
            res.writeHead(404).end();
            log.push({ path, event: 'response', at: performance.now() });
            return;
          }
          try {
            body = readFileSync(join(serving, path));
          } catch {
            res.writeHead(404).end();
            return;
          }
          if (tampered.has(path)) body = Buffer.concat([body, Buffer.from('\n// changed after the build\n')]);
          const type = path.endsWith('.json') ? 'application/json' : path.endsWith('.css') ? 'text/css' : 'text/javascript';
          const hashed = /-[\w-]{8,}\.(js|css)$/.test(path);
          const cache = immutable ? { 'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache' } : {};
          res.writeHead(200, { 'content-type': type, ...cache }).end(body);
        }
        log.push({ path, event: 'response', at: performance.now() });
      };
      if (slow.has(path)) setTimeout(send, 400);
      else send();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    origin = `http://127.0.0.1:${address.port}`;
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    cleanup(app);
  });

  async function withPage<T>(fn: (page: import('playwright-core').Page) => Promise<T>): Promise<T> {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await page.goto(`${origin}/index.html`);
      await page.waitForFunction(() => (globalThis as { appReady?: boolean }).appReady === true);
      return await fn(page);
    } finally {
      await browser.close();
    }
  }

  it("preloads a driver's chunks with their SRI values and requests the shared chunk before the driver chunk arrives", async () => {
    const alpha = manifest.drivers.alpha!;
    expect(alpha.imports.length).toBeGreaterThan(0);
    slow.add(alpha.chunk!);
    log.length = 0;
    const { result, links, stylesheets, color } = await withPage(async (page) => {
      const result = await page.evaluate(() => (globalThis as unknown as { loadDriver: (n: string) => Promise<unknown> }).loadDriver('alpha'));
      const linksOf = (rel: string) =>
        page.evaluate((rel) => [...document.querySelectorAll(`link[rel="${rel}"]`)].map((l) => ({ href: (l as HTMLLinkElement).href, integrity: (l as HTMLLinkElement).integrity })), rel);
      const color = await page.evaluate(() => {
        const probe = document.createElement('div');
        probe.className = 'alpha-styled';
        document.body.append(probe);
        return getComputedStyle(probe).color;
      });
      return { result, links: await linksOf('modulepreload'), stylesheets: await linksOf('stylesheet'), color };
    });
    slow.clear();
    expect(result).toEqual({ ok: true, marker: 'alpha-driver-code' });
    expect(links).toEqual(
      expect.arrayContaining([
        ...alpha.imports.map((f) => ({ href: `${origin}/${f}`, integrity: manifest.chunks[f]!.integrity })),
        // The driver's own chunk carries the build id (manifest-loader.ts: lazyUrlOf).
        { href: `${origin}/${alpha.chunk}?build=${manifest.buildId}`, integrity: manifest.chunks[alpha.chunk!]!.integrity },
      ]),
    );
    // Its stylesheet: in the manifest with its SRI value, linked, applied by the time load() resolves.
    expect(alpha.css).toEqual([expect.stringMatching(/\.css$/)]);
    expect(stylesheets).toEqual([{ href: `${origin}/${alpha.css![0]}`, integrity: manifest.chunks[alpha.css![0]!]!.integrity }]);
    expect(color).toBe('rgb(1, 2, 3)');
    expect(manifest.drivers.beta!.css, 'a driver without CSS lists none').toBeUndefined();
    const at = (path: string, event: 'request' | 'response') => log.find((e) => e.path === path && e.event === event)!.at;
    for (const shared of alpha.imports) expect(at(shared, 'request')).toBeLessThan(at(alpha.chunk!, 'response'));
    // Each chunk fetched once: the import() used the preloaded module.
    expect(log.filter((e) => e.path === alpha.chunk && e.event === 'request')).toHaveLength(1);
  });

  it('a stylesheet that cannot be loaded fails the load (after the retry), naming the driver and the stylesheet', async () => {
    const alpha = manifest.drivers.alpha!;
    const css = alpha.css![0]!;
    missing.add(css);
    log.length = 0;
    const result = await withPage((page) => page.evaluate(() => (globalThis as unknown as { loadDriver: (n: string) => Promise<unknown> }).loadDriver('alpha')));
    missing.clear();
    expect(result).toMatchObject({ ok: false, code: 'load-failed' });
    expect((result as { message: string }).message).toContain(`format driver 'alpha'`);
    expect((result as { message: string }).message).toContain(`(stylesheet ${origin}/${css} failed)`);
    expect(log.filter((e) => e.path === css && e.event === 'request')).toHaveLength(2);
  });

  // A lazy chunk's bytes carry the build id, while its name follows its code only: a later build
  // of other sources has other bytes under the same name. Served with hashed names cached for
  // good (`immutable`, as deployments serve them), the browser must not answer the new build's
  // request with the old build's chunk (its integrity and build id would fail, on every retry).
  it('a new build served over an immutable HTTP cache: the driver chunk is fetched again, not taken from the cache', async () => {
    const beta = join(app!, 'src/drivers/beta.ts');
    const source = readFileSync(beta, 'utf8');
    const out2 = join(app!, 'dist-browser-2');
    writeFileSync(beta, source.replace("'beta-driver-code'", "'beta-driver-code, again'"));
    try {
      await buildForBrowser(bundler, app!, out2);
    } finally {
      writeFileSync(beta, source);
    }
    const manifest2 = JSON.parse(readFileSync(join(out2, 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
    const alpha = manifest.drivers.alpha!.chunk!;
    expect(manifest2.buildId).not.toBe(manifest.buildId);
    expect(manifest2.drivers.alpha!.chunk, 'same code, same name').toBe(alpha);
    expect(manifest2.chunks[alpha]!.integrity, 'other bytes (the build id)').not.toBe(manifest.chunks[alpha]!.integrity);
    const load = (page: import('playwright-core').Page) => page.evaluate(() => (globalThis as unknown as { loadDriver: (n: string) => Promise<unknown> }).loadDriver('alpha'));
    immutable = true;
    try {
      const [first, second] = await withPage(async (page) => {
        const first = await load(page);
        serving = out2;
        log.length = 0;
        await page.reload();
        await page.waitForFunction(() => (globalThis as { appReady?: boolean }).appReady === true);
        return [first, await load(page)];
      });
      expect(first).toEqual({ ok: true, marker: 'alpha-driver-code' });
      expect(second).toEqual({ ok: true, marker: 'alpha-driver-code' });
      expect(log.filter((e) => e.path === alpha && e.event === 'request'), 'the new build asked the server for it').toHaveLength(1);
    } finally {
      immutable = false;
      serving = out;
    }
  });

  it('refuses a chunk whose bytes differ from the build (SRI), with a DriverError naming the driver', async () => {
    const beta = manifest.drivers.beta!;
    tampered.add(beta.chunk!);
    const result = await withPage((page) => page.evaluate(() => (globalThis as unknown as { loadDriver: (n: string) => Promise<unknown> }).loadDriver('beta')));
    tampered.clear();
    expect(result).toMatchObject({ ok: false, code: 'load-failed' });
    expect((result as { message: string }).message).toContain(`format driver 'beta'`);
    expect((result as { message: string }).message).toContain(`${origin}/${beta.chunk}`);
    expect((result as { message: string }).message).toContain('integrity');
  });
});
