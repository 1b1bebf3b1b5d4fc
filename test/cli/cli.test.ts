// The CLI's contract: exit codes, `path:line:col: error GMxxxx: message` on stderr with paths
// relative to the working directory, code frames and colour only on a terminal, --json.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { writeFiles } from '../support/files.js';
import { systemRequired } from '../support/system.js';

function io(cwd: string, tty = false): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const stream = (append: (s: string) => void) => Object.assign({ write: (chunk: string) => (append(chunk), true) }, { isTTY: tty }) as unknown as CliIo['stdout'];
  return { cwd, stdout: stream((s) => (out += s)), stderr: stream((s) => (err += s)), out: () => out, err: () => err };
}

const head = `import { blockDriver } from 'gen-modules/runtime';\n`;

function project(files: Record<string, string>): string {
  const parent = mkdtempSync(join(tmpdir(), 'gm-cli-'));
  const root = join(parent, 'app');
  const all = { 'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/drivers.gen.ts' }), ...files };
  writeFiles(root, all);
  return root;
}

const broken = {
  'src/consts.ts': `export let NAME = 'x';\n`,
  'src/drivers/a.ts': `${head}import { NAME } from '../consts.js';\n@blockDriver({ format: NAME })\nexport class A {}\n`,
  'src/drivers/b.ts': `${head}@blockDriver({ format: 'b', prob: 1 })\nexport class B {}\n`,
};

describe('gen-modules CLI', () => {
  it('prints help and version', async () => {
    const a = io('/');
    expect(await main(['--help'], a)).toBe(0);
    expect(a.out()).toContain('gen-modules [--config FILE] [--check] [--watch] [--json]');
    const b = io('/');
    expect(await main(['--version'], b)).toBe(0);
    expect(b.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 on usage errors, with a suggestion', async () => {
    const a = io('/');
    expect(await main(['--chek'], a)).toBe(2);
    expect(a.err()).toContain("unknown option '--chek'; did you mean '--check'?");
    // A flag where a file name should be is not taken for the file.
    for (const argv of [['--config', '--check'], ['report', '--out', '--json', 'm.json']]) {
      const b = io('/');
      expect(await main(argv, b), argv.join(' ')).toBe(2);
      expect(b.err()).toContain(`${argv.includes('--out') ? '--out' : '--config'} needs a file name`);
    }
  });

  it('reports every source error as path:line:col relative to the working directory and exits 1', async () => {
    const root = project(broken);
    const a = io(join(root, '..'));
    expect(await main(['--config', 'app/gen-modules.config.json'], a)).toBe(1);
    expect(a.err()).toBe(
      [
        "app/src/drivers/a.ts:3:24: error GM1002: option 'format' must be a compile-time constant: 'NAME' (imported from '../consts.js') is declared with 'let' and may change",
        "  app/src/consts.ts:1:12: 'NAME' is declared with 'let' and may change",
        "app/src/drivers/b.ts:2:29: error GM1004: unknown option 'prob' in @blockDriver(...); did you mean 'probe'?",
        '2 errors; app/src/generated/drivers.gen.ts was not written',
        '',
      ].join('\n'),
    );
    expect(a.out()).toBe('');
  });

  it('adds code frames and colour on a terminal only', async () => {
    const root = project(broken);
    const a = io(root, true);
    expect(await main([], a)).toBe(1);
    const text = a.err();
    expect(text).toContain('\u001b[31merror\u001b[0m');
    // The frame: the line before, the flagged line, a caret under the span.
    const plain = text.replace(/\u001b\[\d+m/g, '');
    expect(plain).toContain(["  2 | import { NAME } from '../consts.js';", '> 3 | @blockDriver({ format: NAME })', '    |                        ^^^^'].join('\n'));
  });

  it('--json gives outputs, drivers and diagnostics for editors and CI', async () => {
    const root = project(broken);
    const a = io(root);
    expect(await main(['--json'], a)).toBe(1);
    const report = JSON.parse(a.out()) as { ok: boolean; outcome: string; diagnostics: { code: string; file: string; line: number; column: number; related: { file: string }[] }[] };
    expect(report.ok).toBe(false);
    expect(report.outcome).toBe('skipped');
    expect(report.diagnostics.map((d) => `${d.code} ${d.file}:${d.line}:${d.column}`)).toEqual(['GM1002 src/drivers/a.ts:3:24', 'GM1004 src/drivers/b.ts:2:29']);
    expect(report.diagnostics[0]!.related[0]!.file).toBe('src/consts.ts');
    expect(a.err()).toBe('');

    const good = project({ 'src/drivers/a.ts': `${head}@blockDriver({ format: 'a' })\nexport class A {}\n` });
    const b = io(good);
    expect(await main(['--json'], b)).toBe(0);
    expect(JSON.parse(b.out())).toEqual({
      ok: true,
      outcome: 'written',
      out: 'src/generated/drivers.gen.ts',
      outputs: [{ registry: 'blockDriver', out: 'src/generated/drivers.gen.ts', outcome: 'written' }],
      drivers: [{ registry: 'blockDriver', name: 'a', kind: 'format', state: 'module', file: 'src/drivers/a.ts', exportName: 'A' }],
      diagnostics: [],
      inputs: ['gen-modules.config.json', 'src/drivers/a.ts'],
      stats: { files: 1, candidates: 1, read: 1, parsed: 1, reused: 0, literal: 0 },
    });
    const c = io(good);
    expect(await main(['--check', '--json'], c)).toBe(0);
    expect(JSON.parse(c.out())).toMatchObject({ ok: true, outcome: 'unchanged' });
  });

  it('exits 2 on config errors, each with its place, as text or JSON', async () => {
    const root = project({ 'gen-modules.config.json': '{\n  "drivers": ["src/*.ts"],\n  "out": "x.ts",\n  "stats": {}\n}\n' });
    const a = io(root);
    expect(await main([], a)).toBe(2);
    expect(a.err()).toBe("gen-modules.config.json:4:3: error GM9001: unknown option 'stats'; did you mean 'states'?\n");
    const b = io(root);
    expect(await main(['--json'], b)).toBe(2);
    expect(JSON.parse(b.out())).toMatchObject({ ok: false, outcome: 'config-error', diagnostics: [{ code: 'GM9001', file: 'gen-modules.config.json', line: 4, column: 3 }] });
  });

  it('exits 2 with one line when the table cannot be written (its path a directory, a file in its path), as text or JSON', async () => {
    const root = project({ 'src/drivers/a.ts': `${head}@blockDriver({ format: 'a' })\nexport class A {}\n` });
    mkdirSync(join(root, 'src/generated/drivers.gen.ts'), { recursive: true });
    const a = io(root);
    expect(await main([], a)).toBe(2);
    expect(a.err()).toBe(`gen-modules: cannot write ${join(root, 'src/generated/drivers.gen.ts')}: it is a directory\n`);
    const b = io(root);
    expect(await main(['--json'], b)).toBe(2);
    expect(JSON.parse(b.out())).toMatchObject({ ok: false, outcome: 'write-error', file: 'src/generated/drivers.gen.ts' });
    // --check says so too, rather than "stale: run gen-modules", which would then fail.
    const check = io(root);
    expect(await main(['--check'], check)).toBe(2);
    expect(check.err()).toBe(`gen-modules: cannot write ${join(root, 'src/generated/drivers.gen.ts')}: it is a directory\n`);
    rmSync(join(root, 'src/generated'), { recursive: true });
    writeFileSync(join(root, 'src/generated'), 'a file where the folder should be\n');
    const c = io(root);
    expect(await main([], c)).toBe(2);
    expect(c.err()).toBe(`gen-modules: cannot write ${join(root, 'src/generated/drivers.gen.ts')}: a part of its path is a file, not a directory\n`);
    expect(readFileSync(join(root, 'src/generated'), 'utf8')).toBe('a file where the folder should be\n');
  });

  it('never writes a table over a file it did not generate (an out naming a driver by mistake), exit 2 with one line', async () => {
    const driver = `${head}@blockDriver({ format: 'raw' })\nexport class Raw {}\n`;
    const root = project({
      'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/drivers/raw.ts' }),
      'src/drivers/raw.ts': driver,
    });
    const a = io(root);
    expect(await main([], a)).toBe(2);
    expect(a.err()).toBe(
      `gen-modules: cannot write ${join(root, 'src/drivers/raw.ts')}: it exists and was not generated by gen-modules (its first line is not "// Generated by gen-modules. Do not edit."); delete it, or point the config's 'out' at another file\n`,
    );
    expect(readFileSync(join(root, 'src/drivers/raw.ts'), 'utf8')).toBe(driver);
    // An empty file, or one it generated, is written.
    writeFileSync(join(root, 'gen-modules.config.json'), JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/t.gen.ts' }));
    writeFiles(root, { 'src/generated/t.gen.ts': '' });
    expect(await main([], io(root))).toBe(0);
    expect(readFileSync(join(root, 'src/generated/t.gen.ts'), 'utf8')).toMatch(/^\/\/ Generated by gen-modules\. Do not edit\.\n/);
    writeFileSync(join(root, 'src/drivers/b.ts'), `${head}@blockDriver({ format: 'b' })\nexport class B {}\n`);
    expect(await main([], io(root))).toBe(0);
    expect(readFileSync(join(root, 'src/generated/t.gen.ts'), 'utf8')).toContain('{ name: "b",');
  });

  // Node 20's recursive mkdir says ENOENT ("no such file") on a read-only file system.
  it('a table whose folder would be made on a read-only file system: "read-only file system", exit 2', async () => {
    const root = project({ 'src/drivers/a.ts': `${head}@blockDriver({ format: 'a' })\nexport class A {}\n` });
    const mountPoint = join(root, 'src/generated');
    mkdirSync(mountPoint, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mountPoint], { encoding: 'utf8' });
    if (mounted.status !== 0) {
      const why = `mounting a read-only tmpfs needs root (${(mounted.stderr || String(mounted.error)).trim()})`;
      if (systemRequired) throw new Error(`${why}; GEN_MODULES_REQUIRE_SYSTEM=1 forbids skipping`);
      return void console.warn(`skipped: ${why}`);
    }
    try {
      writeFileSync(join(root, 'gen-modules.config.json'), JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/generated/deeper/t.gen.ts' }));
      const a = io(root);
      expect(await main([], a)).toBe(2);
      expect(a.err()).toBe(`gen-modules: cannot write ${join(mountPoint, 'deeper/t.gen.ts')}: read-only file system\n`);
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });

  it('passes with warnings only', async () => {
    const root = project({ 'gen-modules.config.json': JSON.stringify({ drivers: ['src/nothing/*.ts'], out: 'gen/t.gen.ts' }) });
    const a = io(root);
    expect(await main([], a)).toBe(0);
    expect(a.err()).toBe("gen-modules.config.json:1:1: warning GM9002: no files match 'src/nothing/*.ts'\n");
    expect(a.out()).toBe('gen/t.gen.ts: written (0 drivers)\n');
  });
});
