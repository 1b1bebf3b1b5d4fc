// fixtures/broken/<case>/: one folder per diagnostic, each a small project (sources and a config)
// with the diagnostics it must produce in expected.json. A case fails when an expected diagnostic
// is missing or an unexpected one appears. Folders are discovered by a sorted listing.
// GEN_MODULES_UPDATE_FIXTURES=1 rewrites expected.json from the current output (review the diff).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { listDriverFiles } from '../../src/scanner/scan.js';
import { repoRoot } from '../support/paths.js';

const base = join(repoRoot, 'fixtures/broken');
const cases = readdirSync(base)
  .filter((name) => statSync(join(base, name)).isDirectory())
  .sort();
const update = process.env.GEN_MODULES_UPDATE_FIXTURES === '1';

interface Expected {
  /** Diagnostics of the run (scan and checks). */
  diagnostics?: Omit<Diagnostic, 'length'>[];
  /** The config does not load: its problems. */
  configError?: Omit<Diagnostic, 'length'>[];
}

async function run(dir: string): Promise<Expected> {
  const strip = (list: Diagnostic[]) => list.map(({ length: _length, ...rest }) => rest);
  try {
    const loaded = await loadConfig(undefined, dir);
    const result = await generateFromConfig(loaded, { check: true });
    return { diagnostics: strip(result.diagnostics) };
  } catch (error) {
    if (error instanceof ConfigError) return { configError: strip(error.diagnostics) };
    throw error;
  }
}

describe('fixtures/broken', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(20);
  });

  it.each(cases)('%s', async (name) => {
    const dir = join(base, name);
    const actual = await run(dir);
    const file = join(dir, 'expected.json');
    if (update) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    const expected = JSON.parse(readFileSync(file, 'utf8')) as Expected;
    for (const key of ['diagnostics', 'configError'] as const) {
      const want = (expected[key] ?? []).map((d) => JSON.stringify(d));
      const got = (actual[key] ?? []).map((d) => JSON.stringify(d));
      const missing = want.filter((d) => !got.includes(d));
      const unexpected = got.filter((d) => !want.includes(d));
      expect({ key, missing, unexpected }).toEqual({ key, missing: [], unexpected: [] });
    }
    // The case is named after the code it demonstrates, and that code is among the results.
    const code = name.slice(0, 6);
    expect([...(actual.diagnostics ?? []), ...(actual.configError ?? [])].map((d) => d.code)).toContain(code);
  });

  it('covers every diagnostic code (GM1009, an unreadable file, is tested in test/scanner/packages.test.ts)', () => {
    const codes = [...new Set(readFileSync(join(repoRoot, 'src/diagnostics/codes.ts'), 'utf8').match(/GM\d{4}/g))].sort();
    const covered = new Set(cases.map((c) => c.slice(0, 6)));
    expect(codes.filter((c) => !covered.has(c) && c !== 'GM1009')).toEqual([]);
  });

  it('are not picked up by the repository config', async () => {
    const files = await listDriverFiles(await loadConfig(undefined, repoRoot));
    expect(files.length).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('fixtures/broken'))).toEqual([]);
    expect(existsSync(join(base, cases[0]!, 'gen-modules.config.json')) || existsSync(join(base, cases[0]!, 'gen-modules.config.ts'))).toBe(true);
  });
});
