// Atomic writes: concurrent generators and generators killed mid-run never leave a torn table.
// Two configs write different tables to the same file; five child processes alternate between
// them while this process reads the file as fast as it can: every read is one whole table.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateFromConfig } from '../../src/codegen/generate.js';
import { loadConfig } from '../../src/config/config.js';
import { repoRoot } from '../support/paths.js';

const OUT = 'src/generated/drivers.gen.ts';

async function project(): Promise<{ root: string; tables: string[] }> {
  const root = mkdtempSync(join(tmpdir(), 'gm-atomic-'));
  mkdirSync(join(root, 'src/drivers'), { recursive: true });
  // Enough drivers for a table of some 40 KB: a torn write would be seen.
  for (let i = 0; i < 150; i++) {
    writeFileSync(
      join(root, `src/drivers/d${i}.ts`),
      `import { blockDriver } from 'gen-modules/runtime';\n@blockDriver({ format: 'format-${i}', description: '${'x'.repeat(100)}', probe: { score: 100, match: [{ minLength: 16 }, { at: 0, u32be: ${0x10000 + i} }] } })\nexport class Driver${i} {}\n`,
    );
  }
  writeFileSync(join(root, 'a.config.json'), JSON.stringify({ drivers: ['src/drivers/*.ts'], out: OUT }));
  writeFileSync(join(root, 'b.config.json'), JSON.stringify({ drivers: ['src/drivers/*.ts'], out: OUT, defaultState: 'builtin' }));
  const tables: string[] = [];
  for (const config of ['a.config.json', 'b.config.json']) {
    tables.push((await generateFromConfig(await loadConfig(config, root), { check: true })).content!);
  }
  expect(tables[0]).not.toBe(tables[1]);
  // The child: generate `rounds` times, alternating configs, through the built package.
  writeFileSync(
    join(root, 'child.mjs'),
    `import { generate } from ${JSON.stringify(join(repoRoot, 'dist/index.js'))};\n` +
      `const [rounds, offset] = process.argv.slice(2).map(Number);\n` +
      `for (let i = 0; i < rounds; i++) await generate({ cwd: ${JSON.stringify(root)}, config: (i + offset) % 2 ? 'b.config.json' : 'a.config.json' });\n`,
  );
  return { root, tables };
}

function child(root: string, rounds: number, offset: number): ChildProcess {
  return spawn(process.execPath, [join(root, 'child.mjs'), String(rounds), String(offset)], { stdio: ['ignore', 'ignore', 'pipe'] });
}

const exited = (p: ChildProcess) => new Promise<number | null>((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve(p.exitCode) : p.on('exit', (code) => resolve(code))));

/** Reads the table over and over until `until` settles; every read must be a whole table. */
async function watchReads(path: string, tables: string[], until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => (done = true));
  let reads = 0;
  while (!done) {
    if (existsSync(path)) {
      let text: string | undefined;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        text = undefined; // renamed away between the check and the read
      }
      if (text !== undefined) {
        reads++;
        if (!tables.includes(text)) throw new Error(`torn table: ${text.length} characters, ends with ${JSON.stringify(text.slice(-40))}`);
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  return reads;
}

describe('atomic writes', () => {
  it('five concurrent generators never leave a torn table', async () => {
    const { root, tables } = await project();
    const out = join(root, OUT);
    for (let round = 0; round < 2; round++) {
      rmSync(out, { force: true });
      const children = Array.from({ length: 5 }, (_, i) => child(root, 6, i + round));
      let stderr = '';
      for (const c of children) c.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const all = Promise.all(children.map(exited));
      const reads = await watchReads(out, tables, all);
      expect(stderr).toBe('');
      expect(await all).toEqual([0, 0, 0, 0, 0]);
      expect(reads).toBeGreaterThan(0);
      expect(tables).toContain(readFileSync(out, 'utf8'));
    }
  }, 240_000);

  it('a generator killed at any moment leaves the old table or the new one', async () => {
    const { root, tables } = await project();
    const out = join(root, OUT);
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 12; round++) {
      const c = child(root, 1000, round);
      const ended = exited(c);
      // Kill somewhere between start-up and the middle of a write.
      setTimeout(() => c.kill('SIGKILL'), 150 + Math.floor(random() * 900));
      await watchReads(out, tables, ended);
      if (existsSync(out)) expect(tables).toContain(readFileSync(out, 'utf8'));
    }
    // The next run writes a whole table, whatever temporary files killed runs left behind.
    const result = await generateFromConfig(await loadConfig('a.config.json', root));
    expect(result.diagnostics).toEqual([]);
    expect(readFileSync(out, 'utf8')).toBe(tables[0]);
  }, 240_000);
});
