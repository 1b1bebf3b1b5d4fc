// The scan cache against a scan without it, over seeded random sequences of the changes a project
// goes through: drivers edited, touched without a change (git checkout and back), saved by
// renaming, added and removed; a constants module a decorator reads edited, touched, or shadowed
// by a new file where its import would now resolve; a module without decorators beside the drivers
// edited; an editor's swap file coming and going; the output folder removed and made again beside
// the tsconfig (rm -rf dist); the tsconfig's paths pointed elsewhere. Each
// written file and folder gets a new mtime in the past (a different one every time: two versions
// of a file never share a stamp), as an edit made before the run would have, or, now and then,
// only at the next step. Every scan with the cache must equal the scan without it, and the
// sequences must reach each of the cache's paths (whole answers, partial reuse, full scans).
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { scan } from '../../src/scanner/scan.js';
import { prng } from '../support/bytes.js';
import { writeFiles } from '../support/files.js';

const roots: string[] = [];
afterAll(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;
const driver = (name: string, magic: string, constant: boolean) =>
  constant
    ? `${head}import { SHARED } from '../shared';\n@blockDriver({ format: '${name}', probe: { score: 50, match: [{ at: 0, bytes: SHARED }, { at: 8, bytes: '${magic}' }] } }) export class D {}\n`
    : `${head}import { MAGIC } from '@magic/m.js';\n@blockDriver({ format: '${name}', probe: { score: 60, match: [{ at: 0, bytes: MAGIC }, { at: 8, bytes: '${magic}' }] } }) export class D {}\n`;

/** How each scan with the cache went: answered whole, partly (some files reused), or scanned from scratch. */
type Outcome = 'hit' | 'partial' | 'full';

async function runSequence(seed: number, steps: number): Promise<Outcome[]> {
  const next = prng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
  const root = mkdtempSync(join(tmpdir(), 'gm-scan-seq-'));
  roots.push(root);
  writeFiles(root, {
    'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }),
    'tsconfig.json': JSON.stringify({ compilerOptions: { paths: { '@magic/*': ['./src/magic/*'] } } }),
    'src/shared/index.ts': `export const SHARED = 'SHRD';\n`,
    'src/magic/m.ts': `export const MAGIC = 'MAG1';\n`,
    'src/magic2/m.ts': `export const MAGIC = 'MAG2';\n`,
    'src/drivers/notes.ts': `export const NOTE = 0;\n`,
  });
  mkdirSync(join(root, 'node_modules'));
  let clock = Date.now() - 3_600_000;
  /** Gives each path a new mtime in the past, later than any before (an edit made before the run). */
  const date = (...files: string[]) => {
    for (const file of files) {
      const path = join(root, file);
      if (!existsSync(path)) continue;
      clock += 1000;
      utimesSync(path, new Date(clock), new Date(clock));
    }
  };
  const drivers = new Map<string, string>();
  const put = (name: string, magic = `${name.slice(0, 4).padEnd(4, '_')}`, constant = next() < 0.5) => {
    const file = `src/drivers/${name}.ts`;
    drivers.set(name, file);
    writeFiles(root, { [file]: driver(name, magic, constant) });
    return file;
  };
  for (const name of ['alpha', 'beta', 'gamma', 'delta']) put(name);
  const all = () => ['gen-modules.config.json', 'tsconfig.json', 'src', 'src/drivers', 'src/shared', 'src/shared/index.ts', 'src/magic', 'src/magic/m.ts', 'src/magic2', 'src/magic2/m.ts', 'src/drivers/notes.ts', ...drivers.values(), '.'];
  date(...all());
  const loaded = await loadConfig(undefined, root);
  const log: string[] = [];
  const outcomes: Outcome[] = [];
  let added = 0;
  const changes: Record<string, () => string[]> = {
    editDriver: () => {
      const name = pick([...drivers.keys()]);
      return [put(name, pick(['AAAA', 'BBBB', 'CCCCC', name.slice(0, 4)]))];
    },
    touchDriver: () => {
      const file = pick([...drivers.values()]);
      writeFileSync(join(root, file), readFileSync(join(root, file)));
      return [file];
    },
    saveByRenaming: () => {
      const file = pick([...drivers.values()]);
      const text = readFileSync(join(root, file), 'utf8');
      writeFileSync(join(root, `${file}.tmp`), next() < 0.5 ? text : text.replace(/'(\w{4,5})' \}\] \}/, "'RNMD' }] }"));
      renameSync(join(root, `${file}.tmp`), join(root, file));
      return [file, 'src/drivers'];
    },
    addDriver: () => [put(`new${added++}`), 'src/drivers'],
    removeDriver: () => {
      if (drivers.size <= 1) return [];
      const name = pick([...drivers.keys()]);
      rmSync(join(root, drivers.get(name)!));
      drivers.delete(name);
      return ['src/drivers'];
    },
    editConstant: () => {
      writeFileSync(join(root, 'src/shared/index.ts'), `export const SHARED = '${pick(['SHRD', 'SHR2', 'SHARED'])}';\n`);
      return ['src/shared/index.ts'];
    },
    touchConstant: () => {
      const file = pick(['src/shared/index.ts', 'src/magic/m.ts', 'tsconfig.json']);
      writeFileSync(join(root, file), readFileSync(join(root, file)));
      return [file];
    },
    editHelper: () => {
      writeFileSync(join(root, 'src/drivers/notes.ts'), `export const NOTE = ${Math.floor(next() * 1000)};\n`);
      return ['src/drivers/notes.ts'];
    },
    // '../shared' resolves to src/shared.ts before src/shared/index.ts: a new file changes what an
    // import means without changing any input.
    shadowConstant: () => {
      const shadow = join(root, 'src/shared.ts');
      if (existsSync(shadow)) rmSync(shadow);
      else writeFileSync(shadow, `export const SHARED = 'SHDW';\n`);
      return ['src/shared.ts', 'src'];
    },
    swapFile: () => {
      const swap = join(root, 'src/drivers/.alpha.ts.swp');
      if (existsSync(swap)) rmSync(swap);
      else writeFileSync(swap, 'swap');
      return ['src/drivers'];
    },
    // `rm -rf dist && build`: the project folder, where the scan looks for tsconfig.json and
    // package.json, changes just before the run and is left so (never dated in the past).
    cleanBuild: () => {
      rmSync(join(root, 'dist'), { recursive: true, force: true });
      mkdirSync(join(root, 'dist'));
      return ['dist'];
    },
    tsconfigPaths: () => {
      writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { paths: { '@magic/*': [pick(['./src/magic/*', './src/magic2/*'])] } } }));
      return ['tsconfig.json'];
    },
  };
  const kinds = Object.keys(changes);
  let pending: string[] = [];
  for (let step = 0; step < steps; step++) {
    // Time passes: what the last step left as just made is now in the past too.
    date(...pending);
    const kind = pick(kinds);
    const written = changes[kind]!();
    const touched = [...written, ...written.map((f) => dirname(f)).filter((d) => d !== '.')];
    // Most changes are dated in the past; some are left as just made for this step's scans (the
    // cache keeps such an input with no mtime, to be compared by the hash of its text, and such a
    // folder to be asked again; it must not serve a stale result).
    if (next() < 0.8) {
      date(...touched);
      pending = [];
    } else pending = touched;
    log.push(`${step}: ${kind} ${written.join(' ')}`);
    const cached = await scan(loaded, { cache: true });
    const plain = await scan(loaded);
    const where = `seed ${seed}, after\n${log.join('\n')}`;
    expect(cached.diagnostics, where).toEqual(plain.diagnostics);
    expect(cached.drivers, where).toEqual(plain.drivers);
    expect(cached.inputs, where).toEqual(plain.inputs);
    outcomes.push(cached.stats.read === 0 ? 'hit' : cached.stats.reused > 0 ? 'partial' : 'full'); 
  }
  return outcomes;
}

describe('scan cache over random sequences of changes', () => {
  const seen = new Set<Outcome>();
  for (const seed of [1, 2, 3, 4]) {
    it(`seed ${seed}: every scan with the cache equals the scan without it`, async () => {
      for (const outcome of await runSequence(seed, 40)) seen.add(outcome);
    });
  }
  it('the sequences reached every path of the cache: whole answers, partial reuse and full scans', () => {
    expect([...seen].sort()).toEqual(['full', 'hit', 'partial']);
  });
});
