// The browser demo in a real Chromium: opening a qcow2 sample fetches the qcow2 driver's chunk and
// the chunks it shares, and nothing else, all in one parallel wave; booting a qcow2 sample in v86
// reaches the guest's known serial line. A screenshot is kept in test-artifacts/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../fixtures/emulator/build-web.js';
import { CHROMIUM, launchChromium } from '../support/chromium.js';
import { repoRoot } from '../support/paths.js';
import { serveFolder } from '../support/static-server.js';
import { requireTool } from '../support/system.js';

interface Manifest {
  buildId: string;
  entries: string[];
  entryImports: string[];
  drivers: Record<string, { chunk?: string; imports: string[] }>;
}

interface DemoState {
  ready: boolean;
  busy: boolean;
  opened: null | { format: string; virtualSize: number; loadedDrivers: string[] };
  error: string;
  serial: string;
}

const artifacts = join(repoRoot, 'test-artifacts');

describe.runIf(requireTool(CHROMIUM, 'the browser demo test'))('browser demo', () => {
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serveFolder>>;
  let manifest: Manifest;

  beforeAll(async () => {
    const outdir = await buildWeb(join(repoRoot, 'fixtures/emulator/dist-web'));
    manifest = JSON.parse(readFileSync(join(outdir, 'gen-modules-manifest.json'), 'utf8')) as Manifest;
    server = await serveFolder(outdir);
    browser = await launchChromium();
    mkdirSync(artifacts, { recursive: true });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  async function openPage(): Promise<{ page: Page; requests: { url: string; start: number; end: number }[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests: { url: string; start: number; end: number }[] = [];
    const started = new Map<Request, number>();
    page.on('request', (r) => started.set(r, Date.now()));
    page.on('requestfinished', (r) => requests.push({ url: r.url().slice(server.url.length), start: started.get(r) ?? 0, end: Date.now() }));
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { demo?: DemoState }).demo?.ready === true);
    return { page, requests };
  }

  it('opening a qcow2 sample fetches only the qcow2 chunk and its shared chunks, in one wave', async () => {
    const { page, requests } = await openPage();
    const atLoad = requests.filter((r) => /\.js(\?|$)/.test(r.url)).map((r) => r.url);
    expect(atLoad).toContain('demo.js');
    expect(atLoad.some((u) => u.startsWith('drivers/'))).toBe(false);

    const before = requests.length;
    await page.selectOption('#samples', 'qcow2-compressed.qcow2');
    await page.click('#open-sample');
    await page.waitForFunction(() => {
      const demo = (window as unknown as { demo: DemoState }).demo;
      return !demo.busy && (demo.opened !== null || demo.error !== '');
    });
    const state = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
    expect(state.error).toBe('');
    expect(state.opened?.format).toBe('qcow2');
    expect(state.opened?.loadedDrivers).toEqual(['qcow2']);

    const fetched = requests.slice(before).filter((r) => /\.js(\?|$)/.test(r.url));
    const qcow2 = manifest.drivers.qcow2!;
    // The driver's own chunk with the build id (its bytes carry it; runtime/manifest-loader.ts).
    const expected = [`${qcow2.chunk!}?build=${manifest.buildId}`, ...qcow2.imports].sort();
    expect(fetched.map((r) => r.url).sort()).toEqual(expected);
    // One wave: every request of the load started before the first of them finished.
    const firstEnd = Math.min(...fetched.map((r) => r.end));
    for (const r of fetched) expect(r.start).toBeLessThanOrEqual(firstEnd);
    await page.screenshot({ path: join(artifacts, 'browser-demo-qcow2.png'), fullPage: true });
    await page.close();
  });

  it.runIf(requireTool('/usr/share/seabios/bios-256k.bin', 'booting in the browser'))('boots the qcow2 boot sample in v86', async () => {
    const { page } = await openPage();
    await page.selectOption('#samples', 'boot-boot.qcow2');
    await page.click('#open-sample');
    await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.opened?.format === 'qcow2');
    await page.click('#boot');
    await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.serial.includes('GEN-MODULES-BOOT-OK'), undefined, { timeout: 120_000 });
    await page.screenshot({ path: join(artifacts, 'browser-demo-boot.png'), fullPage: true });
    await page.close();
  }, 150_000);
});
