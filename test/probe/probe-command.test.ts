// `gen-modules probe FILE...`: the winner, its score, every signature that matched and why, the
// bytes read (head and tail), the probe modules loaded and no driver chunk; `--json` for tools.
// Runs the real CLI entry (main) in-process over the repository's config and real files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { ProbeReport } from '../../src/cli/probe-command.js';
import { imagesDir, repoRoot } from '../support/paths.js';
import { writeFiles } from '../support/files.js';
import { latin1 } from './support.js';

function sink(): Writable & { text: string } {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      stream.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

async function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const code = await main(['probe', '--config', join(repoRoot, 'gen-modules.config.json'), ...args], { stdout, stderr, cwd });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const dir = mkdtempSync(join(tmpdir(), 'gm-probe-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function qcow2(): Uint8Array {
  const b = new Uint8Array(1024);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x514649fb);
  v.setUint32(4, 3);
  v.setUint32(20, 16);
  return b;
}

describe('gen-modules probe', () => {
  it('explains the winner, every match with its reasons, the bytes read and that no driver was loaded', async () => {
    writeFileSync(join(dir, 'disk.dmg'), qcow2());
    const { code, stdout, stderr } = await run(['disk.dmg'], dir);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe('disk.dmg: qcow2 (score 100)');
    // dmg (weak, by name) is evaluated first, in driver-name order, then qcow2 decides.
    expect(stdout).toContain('  matched dmg (score 2):\n    - file name ends in ".dmg"\n');
    expect(stdout).toContain('  winner qcow2 (score 100):\n');
    expect(stdout).toContain('    - u32be at 0x0 = 0x514649fb (= 0x514649fb)\n');
    expect(stdout).toContain('    - u32be at 0x4 = 0x3 (>= 0x2)\n');
    expect(stdout).toMatch(/ {2}read \d+ bytes: head \d+ bytes at 0\n/);
    expect(stdout).toContain('  probe modules loaded: none\n');
    expect(stdout).toContain('  driver chunks loaded: none\n');
  });

  it('--json: the result with head and tail windows, probe modules and no drivers', async () => {
    const text = latin1('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n');
    writeFileSync(join(dir, 'desc.vmdk'), text);
    writeFileSync(join(dir, 'empty.img'), new Uint8Array(0));
    writeFileSync(join(dir, 'short'), latin1('#!/'));
    const { code, stdout } = await run(['--json', 'desc.vmdk', 'empty.img', 'short'], dir);
    expect(code).toBe(0);
    const [desc, empty, short] = JSON.parse(stdout) as ProbeReport[];
    expect(desc).toMatchObject({ file: 'desc.vmdk', format: 'vmdk', score: 100, driversLoaded: [], head: { offset: 0, length: text.length }, tail: { length: 0 } });
    expect(desc!.modulesLoaded).toEqual(['fixtures/emulator/src/probes/vmdk-descriptor.ts']);
    expect(desc!.matched.at(-1)).toMatchObject({ driver: 'vmdk', module: 'fixtures/emulator/src/probes/vmdk-descriptor.ts' });
    expect(desc!.matched.at(-1)!.because.at(-1)).toBe('probe module fixtures/emulator/src/probes/vmdk-descriptor.ts answered 100');
    expect(empty).toMatchObject({ format: 'raw', score: 1, matched: [], bytesRead: 0, modulesLoaded: [], head: { length: 0 } });
    // QEMU 7.2 pads the probe buffer with zeros: a 3-byte cloop prefix is not cloop.
    expect(short).toMatchObject({ format: 'raw', buffer: 'padded', bytesRead: 3 });
  });

  it('decides committed samples like qemu-img (a real bochs image, a real cloop image)', async () => {
    const { code, stdout } = await run(['bochs/growing-v1.bochs', 'cloop/v2-8k.cloop'], imagesDir);
    expect(code).toBe(0);
    expect(stdout).toContain('bochs/growing-v1.bochs: bochs (score 100)');
    expect(stdout).toContain('cloop/v2-8k.cloop: cloop (score 2)');
    expect(stdout).toContain('    - NUL-terminated "Bochs Virtual HD Image" at 0x0');
  });

  it('a missing file is one line on stderr and exit 1; the other files are still probed', async () => {
    const { code, stdout, stderr } = await run(['nope.img', 'disk.dmg'], dir);
    expect(code).toBe(1);
    expect(stderr).toBe('gen-modules: nope.img: no such file\n');
    expect(stdout).toContain('disk.dmg: qcow2 (score 100)');
  });

  it('a device is refused in one line (stat gives it no size: it would probe as an empty file)', async () => {
    const { code, stderr } = await run(['/dev/zero', 'disk.dmg'], dir);
    expect(code).toBe(1);
    expect(stderr).toBe('gen-modules: /dev/zero: not a regular file\n');
  });

  it('a directory is refused in one line, also one whose size is 0 (procfs)', async () => {
    for (const folder of [dir, ...(existsSync('/proc/self') ? ['/proc/self'] : [])]) {
      const { code, stderr } = await run([folder, 'disk.dmg'], dir);
      expect(code).toBe(1);
      expect(stderr).toBe(`gen-modules: ${folder}: it is a directory\n`);
    }
  });

  it('a FIFO is refused in one line, without waiting for a writer', async () => {
    const fifo = join(dir, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const { code, stderr } = await run([fifo, 'disk.dmg'], dir);
    expect(code).toBe(1);
    expect(stderr).toBe(`gen-modules: ${fifo}: not a regular file\n`);
  }, 10_000);
});

describe('gen-modules probe: problems in the sources', () => {
  const head = `import { blockDriver } from 'gen-modules/runtime';\n`;
  /** A project in a folder below the working directory, as `probe --config p1/...` sees it. */
  function nested(files: Record<string, string>): string {
    const cwd = mkdtempSync(join(dir, 'nested-'));
    writeFiles(join(cwd, 'p1'), { 'gen-modules.config.json': JSON.stringify({ drivers: ['src/drivers/*.ts'], out: 'src/gen/t.gen.ts' }), 'q.img': 'QQQQ----', ...files });
    return cwd;
  }
  const probeIn = async (cwd: string, json: boolean) => {
    const stdout = sink();
    const stderr = sink();
    const code = await main(['probe', '--config', 'p1/gen-modules.config.json', ...(json ? ['--json'] : []), 'p1/q.img'], { stdout, stderr, cwd });
    return { code, stdout: stdout.text, stderr: stderr.text };
  };

  it('errors in the driver sources: named relative to the working directory, and as JSON on stdout with --json', async () => {
    const cwd = nested({ 'src/drivers/q.ts': `${head}@blockDriver({ format: 'q', prob: 1 })\nexport class Q {}\n` });
    const text = await probeIn(cwd, false);
    expect(text.code).toBe(1);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/^p1\/src\/drivers\/q\.ts:2:\d+: error GM\d{4}: .*'prob'/);
    const json = await probeIn(cwd, true);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, outcome: 'source-errors', diagnostics: [{ file: 'p1/src/drivers/q.ts', line: 2 }] });
  });

  it("a probe module that does not compile: its own place and esbuild's message, not a problem of the image", async () => {
    const cwd = nested({
      'src/drivers/q.ts': `${head}@blockDriver({ format: 'q', probe: { score: 100, match: { at: 0, bytes: 'QQQQ' }, module: '../probes/q.ts' } })\nexport class Q {}\n`,
      'src/probes/q.ts': `export default function probe(): number {\n  return 100 +;\n}\n`,
    });
    const { code, stdout, stderr } = await probeIn(cwd, false);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe('gen-modules: p1/src/probes/q.ts:2:15: cannot compile probe module p1/src/probes/q.ts: Unexpected ";"\n');
  });
});
