// The http protocol driver against a real node:http server on a loopback port: range reads, the
// block cache and readahead (request counts), a LUKS image read through it, and the failures a
// user meets (no range support, wrong Content-Range, 404, connection refused, a silent server).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, type ByteSource, type OpenContext } from '../../fixtures/emulator/src/block/types.js';
import { HttpProtocol } from '../../fixtures/emulator/src/drivers/http.js';
import { LuksDriver } from '../../fixtures/emulator/src/drivers/luks.js';
import { imagesDir } from '../support/paths.js';
import { prng } from '../support/bytes.js';

const random = prng(99);
const content = Uint8Array.from({ length: 1_000_003 }, () => Math.floor(random() * 256));
const luksName = 'xts-aes256.luks';
const luks = new Uint8Array(readFileSync(join(imagesDir, 'luks', luksName)));
const luksExpected = JSON.parse(readFileSync(join(imagesDir, 'luks', 'expected.json'), 'utf8'))[luksName] as {
  sha256: string;
  secret: string;
  'virtual-size': number;
};

let server: Server;
let base = '';
const requests: { path: string; range: string | undefined }[] = [];
const hanging: ServerResponse[] = [];
let growCalls = 0;
let resetOnce = false;
const floodClosed: boolean[] = [];
/** Answers to /stalls-later.raw left hanging, and whether the client has dropped each since. */
const stalled: { res: ServerResponse; closed: boolean }[] = [];

function serveRange(req: IncomingMessage, res: ServerResponse, body: Uint8Array, total = body.length): void {
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (!match) {
    res.writeHead(200, { 'Content-Length': body.length, 'Accept-Ranges': 'bytes' }).end(body);
    return;
  }
  const start = Number(match[1]);
  const end = Math.min(match[2] === '' ? body.length - 1 : Number(match[2]), body.length - 1);
  if (start >= body.length) {
    res.writeHead(416, { 'Content-Range': `bytes */${total}` }).end();
    return;
  }
  res
    .writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${total}`, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' })
    .end(body.subarray(start, end + 1));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ path, range: req.headers.range });
    switch (path) {
      case '/disk.raw':
        return serveRange(req, res, content);
      case `/${luksName}`:
        return serveRange(req, res, luks);
      case '/empty.raw':
        return serveRange(req, res, new Uint8Array(0));
      case '/no-ranges.raw':
        // Ignores Range: 200 and the whole file.
        res.writeHead(200, { 'Content-Length': content.length }).end(content);
        return;
      case '/wrong-range.raw': {
        // Claims a range it did not send.
        const body = content.subarray(0, 1000);
        res.writeHead(206, { 'Content-Range': `bytes 5-1004/${content.length}`, 'Content-Length': body.length }).end(body);
        return;
      }
      case '/floods.raw': {
        // Announces the first 64 KiB and streams on without end (chunked, no Content-Length).
        res.writeHead(206, { 'Content-Range': `bytes 0-65535/${1 << 20}` });
        const piece = new Uint8Array(1 << 16);
        const more = (): void => {
          while (!res.destroyed && res.write(piece));
          if (!res.destroyed) res.once('drain', more);
        };
        res.on('close', () => floodClosed.push(true));
        more();
        return;
      }
      case '/grows.raw':
        // The first answer says one size, later ones another.
        growCalls++;
        return serveRange(req, res, content, growCalls === 1 ? content.length : content.length + 512);
      case '/reset-once.raw':
        // Drops the connection of the first request only (a kept-alive socket closing under it).
        if (!resetOnce) {
          resetOnce = true;
          req.socket.destroy();
          return;
        }
        return serveRange(req, res, content);
      case '/reset-always.raw':
        req.socket.destroy();
        return;
      case '/stalls-later.raw': {
        // The first block comes whole; any later range gets its headers and 10 bytes, then nothing.
        const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
        if (!match || match[1] === '0') return serveRange(req, res, content);
        const [start, end] = [Number(match[1]), Math.min(Number(match[2]), content.length - 1)];
        res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${content.length}`, 'Content-Length': end - start + 1 });
        res.write(content.subarray(start, start + 10));
        const entry = { res, closed: false };
        res.on('close', () => (entry.closed = true));
        stalled.push(entry);
        return;
      }
      case '/hangs.raw':
        hanging.push(res); // never answers
        return;
      default:
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not here');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  for (const { res } of stalled) res.destroy();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const noOptions = { options: {}, secrets: {} };

async function open(path: string, options: Record<string, string> = {}): Promise<ByteSource> {
  return new HttpProtocol().open(`${base}${path}`, { options, secrets: {} });
}

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw error;
  }
  throw new Error('expected an ImageError, but the call succeeded');
}

function requestsFor(path: string): number {
  return requests.filter((request) => request.path === path).length;
}

describe('http protocol', () => {
  it('learns the size with one ranged GET and reads byte-exactly', async () => {
    const before = requestsFor('/disk.raw');
    const source = await open('/disk.raw');
    expect(source.size).toBe(content.length);
    expect(source.name).toBe(`${base}/disk.raw`);
    expect(requestsFor('/disk.raw') - before).toBe(1);
    const whole = await source.read(0, source.size);
    expect(Buffer.compare(whole, content)).toBe(0);
    const random = prng(5);
    for (let i = 0; i < 100; i++) {
      const offset = Math.floor(random() * source.size);
      const length = Math.min(source.size - offset, Math.floor(random() * 200_000));
      // Buffer.compare: vitest's deep equality is slow on large typed arrays.
      expect(Buffer.compare(await source.read(offset, length), content.subarray(offset, offset + length))).toBe(0);
    }
    expect((await source.read(source.size, 0)).length).toBe(0);
    await source.close();
  });

  it('small reads hit the cache; sequential reads fetch ahead; concurrent reads share a request', async () => {
    const source = await open('/disk.raw');
    let before = requestsFor('/disk.raw');
    for (let at = 0; at < 60_000; at += 300) await source.read(at, 300); // all inside block 0
    expect(requestsFor('/disk.raw') - before).toBe(0);

    before = requestsFor('/disk.raw');
    for (let at = 0; at + 4096 <= 1_000_000; at += 4096) await source.read(at, 4096); // 244 reads
    const sequentialRequests = requestsFor('/disk.raw') - before;
    expect(sequentialRequests).toBeGreaterThan(0);
    expect(sequentialRequests).toBeLessThanOrEqual(6); // 64 KiB blocks + 256 KiB readahead

    const fresh = await open('/disk.raw');
    before = requestsFor('/disk.raw');
    const same = await Promise.all(Array.from({ length: 10 }, () => fresh.read(700_000, 1000)));
    for (const data of same) expect(data).toEqual(content.subarray(700_000, 701_000));
    expect(requestsFor('/disk.raw') - before).toBe(1);
    await source.close();
    await fresh.close();
  });

  it('a format driver reads through it: the LUKS sample decrypts to qemu-img sha256', async () => {
    const url = `${base}/${luksName}`;
    const source = await new HttpProtocol().open(url, noOptions);
    const ctx: OpenContext = {
      filename: url,
      options: { 'key-secret': 'sec0' },
      secrets: { sec0: luksExpected.secret },
      openImage: () => Promise.reject(new ImageError(url, 'no')),
      openFile: () => Promise.reject(new ImageError(url, 'no')),
    };
    const before = requestsFor(`/${luksName}`);
    const image = await new LuksDriver().open(source, ctx);
    expect(image.virtualSize).toBe(luksExpected['virtual-size']);
    const data = await image.read(0, image.virtualSize);
    expect(createHash('sha256').update(data).digest('hex')).toBe(luksExpected.sha256);
    // Header, key material (250 KiB) and payload: a handful of requests, not one per sector.
    expect(requestsFor(`/${luksName}`) - before).toBeLessThanOrEqual(8);
    await image.close();
  });

  it('an empty file has size 0', async () => {
    const source = await open('/empty.raw');
    expect(source.size).toBe(0);
  });

  it('a server that ignores Range is refused', async () => {
    const error = await rejection(open('/no-ranges.raw'));
    expect(error.message).toBe(`${base}/no-ranges.raw: server does not support range requests (it answered a Range request with 200 and the whole file)`);
  });

  it('a wrong Content-Range is refused', async () => {
    const error = await rejection(open('/wrong-range.raw'));
    expect(error.message).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/wrong-range\.raw: server does not support range requests \(asked for bytes 0-65535, got Content-Range bytes 5-/);
  });

  it('a server that streams more than the range it announced is cut off at once, not read into memory', async () => {
    const error = await rejection(open('/floods.raw'));
    expect(error.message).toBe(`${base}/floods.raw: server sent more than the 65536 bytes of Content-Range "bytes 0-65535/1048576"`);
    // The connection was dropped rather than drained.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(floodClosed).toEqual([true]);
  });

  it('404 names the URL and the status', async () => {
    const error = await rejection(open('/missing.qcow2'));
    expect(error.message).toBe(`${base}/missing.qcow2: HTTP 404 Not Found`);
  });

  it('a file that changes size on the server is noticed', async () => {
    const source = await open('/grows.raw');
    const error = await rejection(source.read(500_000, 10));
    expect(error.problem).toMatch(/the file changed size on the server/);
  });

  it('connection refused names the URL', async () => {
    const spare = createServer();
    await new Promise<void>((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    const url = `http://127.0.0.1:${port}/disk.raw`;
    const error = await rejection(new HttpProtocol().open(url, noOptions));
    expect(error.message).toBe(`${url}: cannot connect: connection refused`);
  });

  it('a connection reset is retried once, then reported', async () => {
    const source = await open('/reset-once.raw');
    expect(source.size).toBe(content.length);
    expect(requestsFor('/reset-once.raw')).toBe(2);
    const error = await rejection(open('/reset-always.raw'));
    expect(error.problem).toBe('the connection was reset by the server');
  });

  it('a silent server times out (option timeout, seconds)', async () => {
    const error = await rejection(open('/hangs.raw', { timeout: '0.5' }));
    expect(error.problem).toBe('no answer within 0.5 s');
  });

  it('close() aborts the requests still on their way (readahead), and reads waiting for them', async () => {
    const source = await open('/stalls-later.raw');
    await source.read(0, 4096);
    await source.read(4096, 4096); // sequential: block 0 is cached, blocks 1-4 are fetched ahead
    const pause = () => new Promise((resolve) => setTimeout(resolve, 20));
    for (let i = 0; i < 50 && stalled.length === 0; i++) await pause();
    expect(stalled).toHaveLength(1);
    const waiting = rejection(source.read(100_000, 10)); // block 1: inside the stalled readahead
    await source.close();
    // Without the abort both would last until the request timeout (30 s by default), and the
    // open connection would keep a command from exiting.
    for (let i = 0; i < 50 && !stalled[0]!.closed; i++) await pause();
    expect(stalled[0]!.closed).toBe(true);
    expect((await waiting).problem).toBe('closed while a read was in progress');
  });

  it('bad options, bad URLs, reads past the end and writing are refused', async () => {
    expect((await rejection(open('/disk.raw', { timeout: 'soon' }))).problem).toMatch(/invalid value "soon" for option 'timeout'/);
    expect((await rejection(new HttpProtocol().open('http://', noOptions))).problem).toMatch(/not a valid http/);
    expect((await rejection(new HttpProtocol().open(`${base}/disk.raw`, { ...noOptions, writable: true }))).problem).toBe(
      'the http protocol is read-only',
    );
    const source = await open('/disk.raw');
    expect((await rejection(source.read(content.length - 10, 11))).problem).toMatch(/goes past the end of the file/);
    expect((await rejection(source.read(-1, 1))).problem).toMatch(/invalid read/);
  });
});
