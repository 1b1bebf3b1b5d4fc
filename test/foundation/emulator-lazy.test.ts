// The foundation's promise, end to end: the esbuild build of the example emulator, run in Node,
// opens a qcow2 image written by qemu-img, loads the qcow2 chunk and no other format driver's,
// and converts it byte-identically to qemu-img. Loaded files are recorded by a Node module hook,
// independently of the registry's own bookkeeping.
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lazyEmu, repoRoot } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { requireTool } from '../support/system.js';

const hook = join(repoRoot, 'test/support/log-loads.mjs');
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function loadedFiles(stderr: string): string[] {
  const line = stderr.split('\n').find((l) => l.startsWith('[loaded-files] '));
  return line ? (JSON.parse(line.slice('[loaded-files] '.length)) as string[]) : [];
}

describe.runIf(requireTool('qemu-img', 'the lazy-loading end-to-end test'))('lazy emulator build', () => {
  let dir: string;
  let image: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gm-lazy-'));
    image = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '8M']);
    // Real data: a pattern straddling a cluster edge, text, and a run of random bytes.
    execFileSync('qemu-io', ['-c', 'write -P 0xa5 65000 70000', '-c', 'write -P 0x31 3000000 4096', image], { stdio: 'ignore' });
  });

  it('info loads the file and qcow2 chunks and no other driver', async () => {
    const result = await runNode(['--import', hook, lazyEmu, 'info', '--output=json', image]);
    expect(result.stderr.replace(/\n?\[loaded-files\].*\n?/, '')).toBe('');
    expect(result.code).toBe(0);
    const info = JSON.parse(result.stdout) as Record<string, unknown>;
    const reference = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', image], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(reference['virtual-size']);
    expect(info['loaded-drivers']).toEqual(['file', 'qcow2']);
    expect((info.probe as { format: string; score: number }).score).toBe(100);

    const files = loadedFiles(result.stderr).map((url) => url.slice(url.indexOf('/dist/') + '/dist/'.length));
    const driverChunks = files.filter((f) => f.startsWith('drivers/'));
    expect(driverChunks.map((f) => f.replace(/-[A-Z0-9]+\.mjs$/, ''))).toEqual(['drivers/file', 'drivers/qcow2']);
    // The report agrees with what Node actually loaded.
    for (const chunk of info['loaded-chunks'] as string[]) expect(files).toContain(chunk);
    // Every format driver of the build has its own chunk, and only qcow2's was touched.
    const built = readdirSync(join(lazyEmu, '../drivers'));
    expect(built.length).toBeGreaterThan(2);
    expect(built.some((f) => f.startsWith('raw-'))).toBe(true);
  });

  it('convert -O raw is byte-identical to qemu-img convert -O raw', async () => {
    const ours = join(dir, 'ours.raw');
    const theirs = join(dir, 'theirs.raw');
    const result = await runNode([lazyEmu, 'convert', '-O', 'raw', image, ours]);
    expect(result.code).toBe(0);
    execFileSync('qemu-img', ['convert', '-O', 'raw', image, theirs]);
    expect(sha256(ours)).toBe(sha256(theirs));
  });

  it('convert into a directory that does not exist, or under a file, is one line naming the output', async () => {
    for (const [output, why] of [
      [join(dir, 'no-such-dir', 'out.raw'), 'its directory does not exist'],
      [join(image, 'out.raw'), 'a part of the path is not a directory'],
    ] as const) {
      const result = await runNode([lazyEmu, 'convert', '-O', 'raw', image, output]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toBe(`emu: ${output}: cannot write the converted image: ${why}\n`);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('-f skips probing; bad input is one line naming the image', async () => {
    const explicit = await runNode([lazyEmu, 'info', '--output=json', '-f', 'qcow2', image]);
    expect(JSON.parse(explicit.stdout).probe).toBeUndefined();
    const missing = await runNode([lazyEmu, 'info', join(dir, 'nope.qcow2')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.qcow2');
    const unknown = await runNode([lazyEmu, 'info', '-f', 'nosuchformat', image]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`emu: ${image}: unknown driver 'nosuchformat' (this build has: ${unknown.stderr.split('this build has: ')[1]}`);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
  });

  it("a name that starts like a protocol is refused as QEMU refuses it; './' or 'file:' names the file", async () => {
    const odd = join(dir, 'foo:bar.img');
    copyFileSync(image, odd);
    const refused = await runNode([lazyEmu, 'info', 'foo:bar.img'], { cwd: dir });
    expect([refused.code, refused.stderr]).toEqual([1, "emu: foo:bar.img: Unknown protocol 'foo'\n"]);
    const nbd = await runNode([lazyEmu, 'info', 'nbd:localhost:10809'], { cwd: dir });
    expect([nbd.code, nbd.stderr]).toEqual([1, "emu: nbd:localhost:10809: protocol 'nbd' takes names starting with nbd://, nbd+tcp://, nbd+unix://\n"]);
    for (const name of ['./foo:bar.img', 'file:foo:bar.img', odd]) {
      const opened = await runNode([lazyEmu, 'info', '--output=json', name], { cwd: dir });
      expect(opened.stderr).toBe('');
      expect(JSON.parse(opened.stdout).format).toBe('qcow2');
    }
  });

  it('convert writes through a symlink and refuses a FIFO or a folder, replacing none of them', async () => {
    const real = join(dir, 'real.raw');
    writeFileSync(real, '');
    const link = join(dir, 'link.raw');
    symlinkSync(real, link);
    const through = await runNode([lazyEmu, 'convert', '-q', '-O', 'raw', image, link]);
    expect([through.code, through.stderr]).toEqual([0, '']);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(real).size).toBe(8 << 20);
    // A link to a file not there yet: the file is made, the link kept.
    const dangling = join(dir, 'dangling.raw');
    symlinkSync('made-through-link.raw', dangling);
    const made = await runNode([lazyEmu, 'convert', '-q', '-O', 'raw', image, dangling]);
    expect([made.code, made.stderr]).toEqual([0, '']);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
    expect(statSync(join(dir, 'made-through-link.raw')).size).toBe(8 << 20);
    const fifo = join(dir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    for (const [output, why] of [[fifo, 'not a regular file (convert writes a new image file)'], [dir, 'it is a directory']] as const) {
      const refused = await runNode([lazyEmu, 'convert', '-O', 'raw', image, output]);
      expect([refused.code, refused.stderr]).toEqual([1, `emu: ${output}: cannot write the converted image: ${why}\n`]);
    }
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it("-f file reads the file's bytes as they are (format 'file', as qemu-img); another protocol's name is one line", async () => {
    const result = await runNode([lazyEmu, 'info', '--output=json', '-f', 'file', image]);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toMatchObject({ format: 'file', 'virtual-size': statSync(image).size });
    const other = await runNode([lazyEmu, 'info', '-f', 'http', image]);
    expect([other.code, other.stderr]).toEqual([1, `emu: ${image}: 'http' is a protocol, and this image is not opened through it\n`]);
  });

  it('a reader that goes away ends the output quietly (no EPIPE stack)', async () => {
    const child = spawn(process.execPath, [lazyEmu, 'info', '--output=json', image], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('Ctrl-C during convert leaves no partial file', async () => {
    // A 64 MiB raw disk over HTTP whose every range answer waits: the convert is still running.
    const size = 64 << 20;
    const server = createServer((request, response) => {
      const range = /bytes=(\d+)-(\d+)/.exec(request.headers.range ?? '');
      if (!range) {
        response.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' }).end();
        return;
      }
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), size - 1)];
      setTimeout(() => {
        response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
        response.end(Buffer.alloc(end - start + 1, 0x5a));
      }, 150);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.raw`;
      const out = join(dir, 'interrupted.raw');
      const child = spawn(process.execPath, [lazyEmu, 'convert', '-f', 'raw', '-O', 'raw', url, out], { stdio: 'ignore' });
      const partial = `${out}.${child.pid}.partial`;
      for (let i = 0; i < 200 && !existsSync(partial); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(existsSync(partial)).toBe(true);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(130);
      expect(existsSync(partial)).toBe(false);
      expect(existsSync(out)).toBe(false);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an absolute backing name in the image folder opens whatever the working directory', async () => {
    const base = join(dir, 'abs-base.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'raw', base, '1M']);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', join(dir, 'abs-top.qcow2')]);
    for (const [name, cwd] of [[join(dir, 'abs-top.qcow2'), repoRoot], ['abs-top.qcow2', dir]]) {
      const result = await runNode([lazyEmu, 'convert', '-O', 'raw', name!, join(dir, 'abs-top.raw')], { cwd });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/loaded drivers: file, qcow2, raw/);
    }
  });

  it('info describes an image whose backing file is missing, as qemu-img info; convert names both files', async () => {
    const top = join(dir, 'orphan.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', 'missing-base.raw', '-F', 'raw', top, '1M']);
    const info = await runNode([lazyEmu, 'info', '--output=json', top]);
    expect(info.stderr).toBe('');
    expect(JSON.parse(info.stdout)).toMatchObject({ format: 'qcow2', 'virtual-size': 1 << 20, 'loaded-drivers': ['file', 'qcow2'] });
    const convert = await runNode([lazyEmu, 'convert', '-O', 'raw', top, join(dir, 'orphan.raw')]);
    expect([convert.code, convert.stderr]).toEqual([1, `emu: ${top}: could not open backing file ${join(dir, 'missing-base.raw')}: no such file\n`]);
  });

  it('bad usage exits 1 (as qemu-img) with the usage', async () => {
    for (const args of [[], ['frobnicate'], ['info'], ['info', '--output=xml', image], ['convert', '-O', 'qcow2', image, join(dir, 'x')], ['info', '--bogus', image]]) {
      const result = await runNode([lazyEmu, ...args]);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stdout + result.stderr).toContain('usage:');
    }
  });

  it('emu ls lists every driver with kind, state, chunk and the open options it declares', async () => {
    const result = await runNode([lazyEmu, 'ls']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^qcow2\s+format\s+module\s+drivers\/qcow2-[A-Z0-9]+\.mjs\s+encrypt\.key-secret$/m);
    expect(result.stdout).toMatch(/^http\s+protocol\s+module\s+drivers\/http-[A-Z0-9]+\.mjs\s+timeout,readahead$/m);
    expect(result.stdout).toMatch(/^file\s+protocol\s+module\s+drivers\/file-[A-Z0-9]+\.mjs\s+-$/m);
    const json = await runNode([lazyEmu, 'ls', '--output=json']);
    const rows = JSON.parse(json.stdout) as { name: string; openOptions: string[] }[];
    expect(Object.fromEntries(rows.filter((r) => r.openOptions.length > 0).map((r) => [r.name, r.openOptions]))).toEqual({
      luks: ['key-secret'],
      qcow2: ['encrypt.key-secret'],
      vpc: ['force_size_calc'],
      http: ['timeout', 'readahead'],
      nbd: ['timeout'],
    });
  });
});
