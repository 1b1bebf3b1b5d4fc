// --watch: incremental regeneration on real file changes. The in-process watcher is driven by
// editing files on disk; one test runs the CLI as a child process.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { progressLine } from '../../src/cli/watch.js';
import { watchGenerate, type GenWatcher, type WatchRun } from '../../src/codegen/watch-generate.js';
import { genModulesBin } from '../support/paths.js';
import { writeFiles } from '../support/files.js';

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;
const OUT = 'src/generated/drivers.gen.ts';

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'gm-watch-'));
  const files: Record<string, string> = {
    'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/**/*.ts'], out: OUT }),
    'src/formats/magic.ts': `export const QCOW_MAGIC = 0x514649fb;\n`,
    'src/drivers/qcow.ts': `${head}import { QCOW_MAGIC } from '../formats/magic.js';\n@blockDriver({ format: 'qcow', probe: { score: 100, match: { at: 0, u32be: QCOW_MAGIC } } })\nexport class Qcow {}\n`,
    'src/drivers/raw.ts': `${head}@blockDriver({ format: 'raw' })\nexport class Raw {}\n`,
    'src/drivers/helpers.ts': `export const helper = 1;\n`,
  };
  for (let i = 0; i < 40; i++) files[`src/drivers/more/d${i}.ts`] = `${head}@blockDriver({ format: 'more-${i}' })\nexport class D${i} {}\n`;
  writeFiles(root, files);
  return root;
}

let watcher: GenWatcher | undefined;
afterEach(() => watcher?.close());

/** Starts a watcher and returns a function that waits for its next run. */
async function start(root: string): Promise<{ next: () => Promise<WatchRun>; first: WatchRun }> {
  const runs: WatchRun[] = [];
  let wake: (() => void) | undefined;
  watcher = watchGenerate(await loadConfig(undefined, root), {
    onRun: (run) => {
      runs.push(run);
      wake?.();
    },
  });
  await watcher.ready;
  const next = async () => {
    while (runs.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return runs.shift()!;
  };
  const first = await next();
  // Let the folder watchers settle before the first edit.
  await new Promise((r) => setTimeout(r, 100));
  return { next, first };
}

describe('--watch', () => {
  it('re-reads only what changed, keeps the last good output on a syntax error, follows added and removed files', async () => {
    const root = project();
    const out = join(root, OUT);
    const { next, first } = await start(root);
    expect(first.result.outcome).toBe('written');
    expect(first.result.stats).toMatchObject({ files: 43, read: 43 });
    expect(readFileSync(out, 'utf8')).toContain('1363560955');

    // A constant the driver imports: no listed file read from disk; the changed module parsed, and
    // the driver that imports it re-evaluated from its text in memory.
    writeFileSync(join(root, 'src/formats/magic.ts'), `export const QCOW_MAGIC = 0x514649fc;\n`);
    let run = await next();
    expect(run.changed).toEqual([join(root, 'src/formats/magic.ts')]);
    expect(run.result.outcome).toBe('written');
    expect(run.result.stats).toMatchObject({ read: 0, parsed: 2, reused: 41 });
    expect(readFileSync(out, 'utf8')).toContain('1363560956');

    // A syntax error mid-edit: reported, nothing written.
    const good = readFileSync(out, 'utf8');
    writeFileSync(join(root, 'src/drivers/raw.ts'), `${head}@blockDriver({ format: 'raw2' \nexport class Raw {}\n`);
    run = await next();
    expect(run.result.outcome).toBe('skipped');
    expect(run.result.diagnostics.map((d) => [d.code, d.file])).toEqual([['GM1001', 'src/drivers/raw.ts']]);
    expect(run.result.stats).toMatchObject({ read: 1, parsed: 1 });
    expect(readFileSync(out, 'utf8')).toBe(good);

    // Fixed: written again.
    writeFileSync(join(root, 'src/drivers/raw.ts'), `${head}@blockDriver({ format: 'raw2' })\nexport class Raw {}\n`);
    run = await next();
    expect(run.result.outcome).toBe('written');
    expect(readFileSync(out, 'utf8')).toContain('"raw2"');

    // A file without drivers: read, not parsed, nothing to write.
    writeFileSync(join(root, 'src/drivers/helpers.ts'), `export const helper = 2;\n`);
    run = await next();
    expect(run.result.outcome).toBe('unchanged');
    expect(run.result.stats).toMatchObject({ read: 1, parsed: 0 });

    // Added and removed files, in a new folder too.
    mkdirSync(join(root, 'src/drivers/new'));
    writeFileSync(join(root, 'src/drivers/new/vdi.ts'), `${head}@blockDriver({ format: 'vdi' })\nexport class Vdi {}\n`);
    do run = await next();
    while (!readFileSync(out, 'utf8').includes('"vdi"'));
    rmSync(join(root, 'src/drivers/more/d7.ts'));
    do run = await next();
    while (readFileSync(out, 'utf8').includes('"more-7"'));
    expect(run.result.drivers).toHaveLength(42);
  }, 120_000);

  it('a table that cannot be written is reported and the watch goes on; the next change writes it', async () => {
    const root = project();
    const out = join(root, OUT);
    mkdirSync(out, { recursive: true });
    const failures: string[] = [];
    const runs: WatchRun[] = [];
    watcher = watchGenerate(await loadConfig(undefined, root), { onRun: (run) => runs.push(run), onWriteError: (error) => failures.push(error.message) });
    await watcher.ready;
    expect(failures).toEqual([`cannot write ${out}: it is a directory`]);
    expect(runs).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 100));
    rmSync(out, { recursive: true });
    writeFileSync(join(root, 'src/drivers/raw.ts'), `${head}@blockDriver({ format: 'raw3' })\nexport class Raw {}\n`);
    while (runs.length === 0) {
      await new Promise((r) => setTimeout(r, 20));
      await watcher.idle();
    }
    expect(runs[0]!.result.outcome).toBe('written');
    expect(readFileSync(out, 'utf8')).toContain('"raw3"');
  }, 60_000);

  it('a driver folder that does not exist yet: made later (with its parents, at once), its drivers are found', async () => {
    const root = project();
    const out = join(root, OUT);
    writeFileSync(join(root, 'gen-modules.config.json'), JSON.stringify({ drivers: ['src/drivers/**/*.ts', 'lib/x/drivers/*.ts'], out: OUT }));
    const { next, first } = await start(root);
    expect(first.result.drivers).toHaveLength(42);
    // Made before any watcher could see it: the folders appear together with the file.
    writeFiles(root, { 'lib/x/drivers/vpc.ts': `${head}@blockDriver({ format: 'vpc' })\nexport class Vpc {}\n` });
    let run = await next();
    while (!run.result.drivers.some((d) => d.name === 'vpc')) run = await next();
    expect(readFileSync(out, 'utf8')).toContain('"vpc"');
    // And the folder is watched from now on.
    writeFileSync(join(root, 'lib/x/drivers/vpc.ts'), `${head}@blockDriver({ format: 'vpc2' })\nexport class Vpc {}\n`);
    do run = await next();
    while (!run.result.drivers.some((d) => d.name === 'vpc2'));
    expect(run.result.drivers.some((d) => d.name === 'vpc')).toBe(false);
  }, 60_000);

  it('a TypeScript config: a change to a file it imports reloads it', async () => {
    const root = project();
    const out = join(root, OUT);
    rmSync(join(root, 'gen-modules.config.json'));
    writeFiles(root, {
      'gen-modules.config.ts': `import { states } from './config/states.js';\nexport default { drivers: ['src/drivers/**/*.ts'], out: '${OUT}', states };\n`,
      'config/states.ts': `export const states = { raw: 'builtin' as const };\n`,
    });
    const { next, first } = await start(root);
    expect(first.result.drivers.find((d) => d.name === 'raw')?.state).toBe('builtin');
    writeFileSync(join(root, 'config/states.ts'), `export const states = { raw: 'disabled' as const };\n`);
    let run = await next();
    while (run.result.drivers.find((d) => d.name === 'raw')?.state !== 'disabled') run = await next();
    expect(run.changed).toContain(join(root, 'config/states.ts'));
    expect(readFileSync(out, 'utf8')).toMatch(/name: "raw", kind: "format", state: "disabled"/);
  }, 60_000);

  it('gen-modules --watch regenerates on a change and stops on SIGINT', async () => {
    const root = project();
    const child = spawn(process.execPath, [genModulesBin, '--watch'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const until = async (test: () => boolean) => {
      while (!test()) {
        if (child.exitCode !== null) throw new Error(`gen-modules exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until(() => stderr.includes('watching'));
    // stdout and stderr are separate pipes: wait for each, their order is not kept.
    await until(() => stdout.includes(`${OUT}: written (42 drivers)`));
    await new Promise((r) => setTimeout(r, 100));
    writeFileSync(join(root, 'src/drivers/raw.ts'), `${head}@blockDriver({ format: 'raw', description: 'x' ) \n`);
    await until(() => stderr.includes('error GM1001'));
    expect(stderr).toMatch(/src\/drivers\/raw\.ts:2:\d+: error GM1001: syntax error/);
    expect(stderr).toContain(`1 error; ${OUT} was not written`);
    writeFileSync(join(root, 'src/drivers/raw.ts'), `${head}@blockDriver({ format: 'raw3' })\nexport class Raw {}\n`);
    await until(() => readFileSync(join(root, OUT), 'utf8').includes('"raw3"'));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exit).toBe(0);
    expect(stdout).not.toContain('scanning');
  }, 120_000);
});

describe('progress line', () => {
  const sink = (isTTY: boolean) => {
    const chunks: string[] = [];
    return { chunks, io: { stderr: Object.assign({ write: (c: string) => (chunks.push(c), true) }, { isTTY }) as unknown as NodeJS.WritableStream & { isTTY?: boolean } } };
  };

  it('shows on a terminal for long scans, and is erased', async () => {
    const { chunks, io } = sink(true);
    const progress = progressLine(io, 0);
    progress.update(250, 10000);
    await new Promise((r) => setTimeout(r, 120));
    progress.update(500, 10000);
    progress.clear();
    expect(chunks).toEqual(['\r\u001b[Kscanning 250/10000 files', '\r\u001b[Kscanning 500/10000 files', '\r\u001b[K']);
  });

  it('never shows when stderr is not a terminal, or for short scans', () => {
    const piped = sink(false);
    const a = progressLine(piped.io, 0);
    a.update(250, 10000);
    a.clear();
    expect(piped.chunks).toEqual([]);
    const quick = sink(true);
    const b = progressLine(quick.io);
    b.update(250, 10000);
    b.update(10000, 10000);
    b.clear();
    expect(quick.chunks).toEqual([]);
  });
});
