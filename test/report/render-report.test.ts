// The chunk report is one self-contained HTML page drawn from a real build manifest.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReport, type ReportManifest } from '../../src/report/render-report.js';
import { emulatorDir, genModulesBin } from '../support/paths.js';
import { runNode } from '../support/run-node.js';

describe('gen-modules report', () => {
  const manifest = JSON.parse(readFileSync(join(emulatorDir, 'dist/gen-modules-manifest.json'), 'utf8')) as ReportManifest;

  it('draws main vs every driver with its own and shared chunk sizes', () => {
    const html = renderReport(manifest);
    for (const [name, driver] of Object.entries(manifest.drivers)) {
      expect(html).toContain(`<b>${name}</b>`);
      for (const shared of driver.imports) expect(html).toContain(shared);
    }
    const qcow2 = manifest.drivers.qcow2!;
    const own = manifest.chunks[qcow2.chunk!]!.bytes;
    const shared = qcow2.imports.reduce((sum, f) => sum + manifest.chunks[f]!.bytes, 0);
    expect(html).toContain(`${((own + shared) / 1024).toFixed(1)} KiB`);
  });

  it('needs no network and runs no script', () => {
    const html = renderReport(manifest);
    expect(html).not.toMatch(/<script|<link|src=|https?:\/\//i);
  });

  it('escapes names from the manifest', () => {
    const hostile: ReportManifest = {
      entries: ['main.js'],
      entryImports: [],
      drivers: { '<img src=x onerror=alert(1)>': { chunk: 'drivers/"x.js', imports: [] } },
      chunks: { 'main.js': { bytes: 10 }, 'drivers/"x.js': { bytes: 20 } },
    };
    const html = renderReport(hostile);
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('is deterministic', () => {
    expect(renderReport(manifest)).toBe(renderReport(JSON.parse(JSON.stringify(manifest)) as ReportManifest));
  });
});

describe('gen-modules report (CLI)', () => {
  it('writes the page beside the manifest, or to --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-report-'));
    copyFileSync(join(emulatorDir, 'dist/gen-modules-manifest.json'), join(dir, 'gen-modules-manifest.json'));
    const result = await runNode([genModulesBin, 'report', 'gen-modules-manifest.json'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'gen-modules-manifest.html'), 'utf8')).toContain('<b>qcow2</b>');
    expect((await runNode([genModulesBin, 'report', '--out', 'r.html', 'gen-modules-manifest.json'], { cwd: dir })).code).toBe(0);
    expect(existsSync(join(dir, 'r.html'))).toBe(true);
    const bad = await runNode([genModulesBin, 'report', 'missing.json'], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('missing.json');
  });

  it('a manifest of the wrong shape, or an --out it cannot write, is one line and exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-report-'));
    const good = JSON.parse(readFileSync(join(emulatorDir, 'dist/gen-modules-manifest.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    const first = Object.keys(good.drivers!)[0]!;
    const cases: [string, unknown, RegExp][] = [
      ['driver.json', { ...good, drivers: { ...good.drivers, [first]: 5 } }, new RegExp(`drivers\\.${first} must be an object`)],
      ['chunks.json', { ...good, chunks: { 'main.mjs': { bytes: 'many' } } }, /chunks\.main\.mjs\.bytes must be a whole number of bytes/],
      ['entries.json', { ...good, entries: 'main.mjs' }, /'entries' must be an array of strings/],
    ];
    for (const [name, manifest, problem] of cases) {
      writeFileSync(join(dir, name), JSON.stringify(manifest));
      const result = await runNode([genModulesBin, 'report', name], { cwd: dir });
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(problem);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    writeFileSync(join(dir, 'good.json'), JSON.stringify(good));
    mkdirSync(join(dir, 'taken.html'));
    const taken = await runNode([genModulesBin, 'report', '--out', 'taken.html', 'good.json'], { cwd: dir });
    expect(taken.code).toBe(2);
    expect(taken.stderr).toBe(`gen-modules: cannot write ${join(dir, 'taken.html')}: it is a directory\n`);
    // --out naming the manifest itself: refused, the manifest kept.
    for (const out of ['good.json', './good.json']) {
      const same = await runNode([genModulesBin, 'report', '--out', out, 'good.json'], { cwd: dir });
      expect(same.code).toBe(2);
      expect(same.stderr).toBe(`gen-modules: ${join(dir, 'good.json')}: the report would overwrite the build manifest it is made from; give --out another file\n`);
    }
    expect(JSON.parse(readFileSync(join(dir, 'good.json'), 'utf8'))).toEqual(good);
  });
});
