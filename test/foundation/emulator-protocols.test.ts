// Any format over any protocol, through the lazy build: the protocol comes from the filename
// prefix, the format is probed over the network, and exactly those two drivers load. And convert
// streams: a sparse image of several GiB converts in memory bounded by a few clusters.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lazyEmu, repoRoot } from '../support/paths.js';
import { runNode } from '../support/run-node.js';
import { freePort, serveQemuNbd } from '../support/qemu-nbd.js';
import { requireTool } from '../support/system.js';

const rssHook = join(repoRoot, 'test/support/print-rss.mjs');
const maxRssKiB = (stderr: string) => Number(/\[max-rss-kib\] (\d+)/.exec(stderr)?.[1] ?? NaN);

describe.runIf(requireTool('qemu-img', 'the protocol end-to-end tests'))('lazy emulator over protocols', () => {
  let dir: string;
  let image: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gm-proto-'));
    image = join(dir, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x3c 1000000 300000', image], { stdio: 'ignore' });
  });

  describe.runIf(requireTool('qemu-nbd', 'emu info over nbd://'))('nbd', () => {
    let nbd: ChildProcess;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      // The export serves the qcow2 file's bytes; the emulator probes the format over the network.
      nbd = await serveQemuNbd(['--bind=127.0.0.1', `--port=${port}`, '-f', 'raw', image], { port });
    });
    afterAll(() => {
      nbd?.kill();
    });

    it('emu info nbd://127.0.0.1:PORT/ loads exactly the nbd and qcow2 drivers', async () => {
      const result = await runNode([lazyEmu, 'info', '--output=json', `nbd://127.0.0.1:${port}/`]);
      expect(result.stderr).toBe('');
      const info = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(info.format).toBe('qcow2');
      expect(info['virtual-size']).toBe(16 * 1024 * 1024);
      expect(info['loaded-drivers']).toEqual(['nbd', 'qcow2']);
    });
  });

  describe('http', () => {
    let server: Server;
    let url: string;
    beforeAll(async () => {
      const size = statSync(image).size;
      server = createServer((request, response) => {
        const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
        if (!range) {
          response.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes' });
          createReadStream(image).pipe(response);
          return;
        }
        const start = Number(range[1]);
        const end = Math.min(size - 1, range[2] ? Number(range[2]) : size - 1);
        response.writeHead(206, { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': end - start + 1 });
        createReadStream(image, { start, end }).pipe(response);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.qcow2`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('emu info http://... loads exactly the http and qcow2 drivers', async () => {
      const result = await runNode([lazyEmu, 'info', '--output=json', url]);
      expect(result.stderr).toBe('');
      const info = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(info.format).toBe('qcow2');
      expect(info['loaded-drivers']).toEqual(['http', 'qcow2']);
    });
  });

  it('converts a sparse 4 GiB image in memory bounded by a few clusters', async () => {
    const big = join(dir, 'big.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', big, '4G']);
    execFileSync('qemu-io', ['-c', 'write -P 0x11 0 1M', '-c', 'write -P 0x22 2G 3M', '-c', 'write -P 0x33 4095M 1M', big], { stdio: 'ignore' });
    const info = await runNode(['--import', rssHook, lazyEmu, 'info', big]);
    const out = join(dir, 'big.raw');
    const convert = await runNode(['--import', rssHook, lazyEmu, 'convert', '-O', 'raw', big, out], { timeoutMs: 240_000 });
    expect(convert.code).toBe(0);
    expect(statSync(out).size).toBe(4 * 1024 ** 3);
    // Equal contents, compared by qemu-img itself (it skips the holes).
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', out, big]);
    // Peak memory: within 64 MiB of merely opening the image, for a 4 GiB disk.
    expect(maxRssKiB(convert.stderr) - maxRssKiB(info.stderr)).toBeLessThan(64 * 1024);
  }, 300_000);
});
