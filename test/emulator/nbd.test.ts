// The nbd protocol driver: against real qemu-nbd servers on loopback ports (default export, named
// export, qcow2 served as raw, a LUKS volume read through NBD, a unix socket), and against small
// scripted servers for the protocol paths qemu-nbd does not take (NBD_OPT_EXPORT_NAME fallback,
// old-style handshake, error replies, a server that hangs up or stalls).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageError, type ByteSource, type OpenContext } from '../../fixtures/emulator/src/block/types.js';
import { LuksDriver } from '../../fixtures/emulator/src/drivers/luks.js';
import { NbdProtocol } from '../../fixtures/emulator/src/drivers/nbd.js';
import { NBD_DEFAULT_PORT, parseNbdUri } from '../../fixtures/emulator/src/formats/nbd/nbd-uri.js';
import { imagesDir } from '../support/paths.js';
import { freePort, serveQemuNbd, stopQemuNbd } from '../support/qemu-nbd.js';
import { requireTool } from '../support/system.js';
import { prng } from '../support/bytes.js';

const noOptions = { options: {}, secrets: {} };

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ImageError) return error;
    throw error;
  }
  throw new Error('expected an ImageError, but the call succeeded');
}

/** `promise`, or a failure when it has not settled within `ms` (a hang fails fast, not at the test timeout). */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still unsettled after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function open(uri: string, options: Record<string, string> = {}): Promise<ByteSource> {
  return new NbdProtocol().open(uri, { options, secrets: {} });
}

describe('NBD URIs', () => {
  it('parse as QEMU spells them', () => {
    expect(parseNbdUri('nbd://example:10900/disk')).toEqual({ kind: 'tcp', host: 'example', port: 10900, exportName: 'disk' });
    expect(parseNbdUri('nbd://127.0.0.1')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: NBD_DEFAULT_PORT, exportName: '' });
    expect(parseNbdUri('nbd+tcp://[::1]:5/a%20b/c')).toEqual({ kind: 'tcp', host: '::1', port: 5, exportName: 'a b/c' });
    expect(parseNbdUri('nbd+unix:///exp?socket=/run/nbd.sock')).toEqual({ kind: 'unix', path: '/run/nbd.sock', exportName: 'exp' });
    for (const [uri, message] of [
      ['nbd://host:99999/', /bad port/],
      ['nbd://host/x?y=1', /unexpected query/],
      ['nbd+unix:///x', /socket=PATH/],
      ['nbd://h/%zz', /percent-encoding/],
      ['nbdx://h/', /expected nbd:\/\//],
    ] as const) {
      expect(() => parseNbdUri(uri)).toThrowError(message);
      expect(() => parseNbdUri(uri)).toThrowError(ImageError);
    }
  });
});

describe('against qemu-nbd', () => {
  const haveNbd = requireTool('qemu-nbd', 'the NBD tests') && requireTool('qemu-img', 'the NBD tests');
  const work = mkdtempSync(join(tmpdir(), 'nbd-test-'));
  const servers: ChildProcess[] = [];
  const random = prng(3);
  // Not a multiple of 512: qemu-nbd exports the size rounded up, the tail reading as zeros.
  const rawContent = Uint8Array.from({ length: 3_000_000 }, () => Math.floor(random() * 256));
  const rawFile = join(work, 'disk.raw');
  let rawPort = 0;
  let namedPort = 0;
  let qcowPort = 0;
  let luksPort = 0;
  const socketPath = join(work, 'nbd.sock');

  /** Start qemu-nbd and wait until it accepts connections. */
  async function serve(args: string[], endpoint: { port: number } | { path: string }): Promise<void> {
    servers.push(await serveQemuNbd(args, endpoint));
  }

  beforeAll(async () => {
    if (!haveNbd) return;
    writeFileSync(rawFile, rawContent);
    spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', rawFile, join(work, 'disk.qcow2')]);
    rawPort = await freePort();
    await serve([`--port=${rawPort}`, '--bind=127.0.0.1', '-f', 'raw', rawFile], { port: rawPort });
    namedPort = await freePort();
    await serve([`--port=${namedPort}`, '--bind=127.0.0.1', '-x', 'my disk', '-f', 'raw', rawFile], { port: namedPort });
    qcowPort = await freePort();
    await serve([`--port=${qcowPort}`, '--bind=127.0.0.1', '-f', 'qcow2', join(work, 'disk.qcow2')], { port: qcowPort });
    luksPort = await freePort();
    await serve([`--port=${luksPort}`, '--bind=127.0.0.1', '-f', 'raw', join(imagesDir, 'luks', 'xts-aes256.luks')], { port: luksPort });
    await serve([`--socket=${socketPath}`, '-f', 'raw', rawFile], { path: socketPath });
  });

  afterAll(async () => {
    await stopQemuNbd(servers);
    rmSync(work, { recursive: true, force: true });
  });

  const padded = () => {
    const out = new Uint8Array(Math.ceil(rawContent.length / 512) * 512);
    out.set(rawContent);
    return out;
  };

  it.skipIf(!haveNbd)('the default export reads byte-exactly (whole, random, concurrent)', async () => {
    const want = padded();
    for (const uri of [`nbd://127.0.0.1:${rawPort}/`, `nbd://127.0.0.1:${rawPort}`, `nbd+tcp://localhost:${rawPort}`]) {
      const source = await open(uri);
      expect(source.size).toBe(want.length);
      expect(source.name).toBe(uri);
      const whole = await source.read(0, source.size); // several pipelined 1 MiB requests
      expect(Buffer.compare(whole, want)).toBe(0);
      await source.close();
    }
    const source = await open(`nbd://127.0.0.1:${rawPort}/`);
    const reads = Array.from({ length: 40 }, (_, i) => {
      const offset = Math.floor(random() * source.size);
      const length = Math.min(source.size - offset, i % 5 === 0 ? 1_500_000 : Math.floor(random() * 70_000));
      return { offset, length };
    });
    const results = await Promise.all(reads.map(({ offset, length }) => source.read(offset, length)));
    results.forEach((data, i) => {
      const { offset, length } = reads[i]!;
      expect(Buffer.compare(data, want.subarray(offset, offset + length))).toBe(0);
    });
    expect((await source.read(source.size, 0)).length).toBe(0);
    expect((await rejection(source.read(source.size - 1, 2))).problem).toMatch(/goes past the end of the export/);
    await source.close();
    expect((await rejection(source.read(0, 1))).problem).toBe('read after close');
  });

  it.skipIf(!haveNbd)('a named export (-x) opens by its percent-encoded name; another name is not found', async () => {
    const source = await open(`nbd://127.0.0.1:${namedPort}/my%20disk`);
    expect(Buffer.compare(await source.read(1000, 5000), rawContent.subarray(1000, 6000))).toBe(0);
    await source.close();
    const error = await rejection(open(`nbd://127.0.0.1:${namedPort}/other`));
    expect(error.message).toMatch(new RegExp(`^nbd://127\\.0\\.0\\.1:${namedPort}/other: export "other" not found on the server`));
    const defaultName = await rejection(open(`nbd://127.0.0.1:${namedPort}/`));
    expect(defaultName.problem).toMatch(/^the default export "" not found on the server/);
  });

  it.skipIf(!haveNbd)('a qcow2 image served by qemu-nbd reads as qemu-img convert gives it', async () => {
    const raw = join(work, 'qcow.raw');
    spawnSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', join(work, 'disk.qcow2'), raw]);
    const want = new Uint8Array(readFileSync(raw));
    const source = await open(`nbd://127.0.0.1:${qcowPort}/`);
    expect(source.size).toBe(want.length);
    expect(Buffer.compare(await source.read(0, source.size), want)).toBe(0);
    await source.close();
  });

  it.skipIf(!haveNbd)('a format driver over NBD: the LUKS sample decrypts to the expected sha256', async () => {
    const expected = JSON.parse(readFileSync(join(imagesDir, 'luks', 'expected.json'), 'utf8'))['xts-aes256.luks'];
    const uri = `nbd://127.0.0.1:${luksPort}`;
    const source = await open(uri);
    const ctx: OpenContext = {
      filename: uri,
      options: { 'key-secret': 'sec0' },
      secrets: { sec0: expected.secret },
      openImage: () => Promise.reject(new ImageError(uri, 'no')),
      openFile: () => Promise.reject(new ImageError(uri, 'no')),
    };
    const image = await new LuksDriver().open(source, ctx);
    const data = await image.read(0, image.virtualSize);
    expect(createHash('sha256').update(data).digest('hex')).toBe(expected.sha256);
    await image.close();
  });

  it.skipIf(!haveNbd)('nbd+unix:// with a socket path', async () => {
    const source = await open(`nbd+unix:///?socket=${socketPath}`);
    expect(Buffer.compare(await source.read(0, 4096), rawContent.subarray(0, 4096))).toBe(0);
    await source.close();
  });

  it('connection refused names the address', async () => {
    const port = await freePort();
    const error = await rejection(open(`nbd://127.0.0.1:${port}/x`));
    expect(error.message).toBe(`nbd://127.0.0.1:${port}/x: cannot connect to 127.0.0.1:${port}: connection refused`);
    const unix = await rejection(open('nbd+unix:///?socket=/nonexistent/nbd.sock'));
    expect(unix.problem).toBe('cannot connect to /nonexistent/nbd.sock: no such socket');
  });

  it('the client is read-only', async () => {
    const error = await rejection(new NbdProtocol().open('nbd://127.0.0.1:1/', { ...noOptions, writable: true }));
    expect(error.problem).toBe('the nbd client is read-only');
  });
});

describe('against scripted servers', () => {
  // A tiny NBD server whose behaviour each test scripts, for the paths qemu-nbd never takes.
  type Script = (io: { read(n: number): Promise<Buffer>; write(bytes: Buffer): void; socket: Socket }) => Promise<void>;
  const servers: Server[] = [];

  async function scripted(script: Script): Promise<string> {
    const server = createServer((socket) => {
      let buffered = Buffer.alloc(0);
      let wake: (() => void) | undefined;
      let ended = false;
      socket.on('data', (chunk) => {
        buffered = Buffer.concat([buffered, chunk]);
        wake?.();
      });
      socket.on('close', () => {
        ended = true;
        wake?.();
      });
      socket.on('error', () => undefined);
      const read = async (n: number): Promise<Buffer> => {
        while (buffered.length < n) {
          if (ended) throw new Error('client went away');
          await new Promise<void>((resolve) => (wake = resolve));
        }
        const out = buffered.subarray(0, n);
        buffered = buffered.subarray(n);
        return out;
      };
      script({ read, write: (bytes) => socket.write(bytes), socket }).catch(() => socket.destroy());
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `nbd://127.0.0.1:${(server.address() as AddressInfo).port}/disk`;
  }

  afterAll(async () => {
    for (const server of servers) {
      server.close();
    }
  });

  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };
  const NBDMAGIC = Buffer.from('NBDMAGIC');
  const IHAVEOPT = Buffer.from('IHAVEOPT');
  const optReply = (option: number, type: number, data: Buffer) =>
    Buffer.concat([u64(0x3e889045565a9n), u32(option), u32(type), u32(data.length), data]);

  /** Read one option: [option, data]. */
  async function readOption(io: Parameters<Script>[0]): Promise<[number, Buffer]> {
    const header = await io.read(16);
    expect(header.subarray(0, 8).equals(IHAVEOPT)).toBe(true);
    return [header.readUInt32BE(8), await io.read(header.readUInt32BE(12))];
  }

  /** Serve reads of `disk` with simple replies; `error(offset)` may give an errno. */
  async function transmission(io: Parameters<Script>[0], disk: Buffer, error: (offset: number) => number = () => 0): Promise<void> {
    for (;;) {
      const request = await io.read(28);
      expect(request.readUInt32BE(0)).toBe(0x25609513);
      const type = request.readUInt16BE(6);
      if (type === 2) return; // NBD_CMD_DISC
      const handle = request.subarray(8, 16);
      const offset = Number(request.readBigUInt64BE(16));
      const length = request.readUInt32BE(24);
      const errno = error(offset);
      io.write(Buffer.concat([u32(0x67446698), u32(errno), handle, errno ? Buffer.alloc(0) : disk.subarray(offset, offset + length)]));
    }
  }

  const disk = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7) & 0xff));

  it('falls back to NBD_OPT_EXPORT_NAME when NBD_OPT_GO is unknown (with zero padding)', async () => {
    const uri = await scripted(async (io) => {
      io.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(1)])); // fixed newstyle, no NO_ZEROES
      expect((await io.read(4)).readUInt32BE(0)).toBe(1);
      const [go] = await readOption(io);
      expect(go).toBe(7);
      io.write(optReply(7, 0x80000001, Buffer.from('GO? never heard of it')));
      const [option, name] = await readOption(io);
      expect(option).toBe(1);
      expect(name.toString()).toBe('disk');
      io.write(Buffer.concat([u64(BigInt(disk.length)), u16(1), Buffer.alloc(124)]));
      await transmission(io, disk);
    });
    const source = await open(uri);
    expect(source.size).toBe(disk.length);
    expect(Buffer.compare(await source.read(100, 5000), disk.subarray(100, 5100))).toBe(0);
    await source.close();
  });

  it('speaks the old-style handshake', async () => {
    const uri = await scripted(async (io) => {
      io.write(Buffer.concat([NBDMAGIC, u64(0x00420281861253n), u64(BigInt(disk.length)), u32(1), Buffer.alloc(124)]));
      await transmission(io, disk);
    });
    const source = await open(uri);
    expect(Buffer.compare(await source.read(0, disk.length), disk)).toBe(0);
    await source.close();
  });

  const goServer = (afterGo: Script, size = BigInt(disk.length)): Script => async (io) => {
    io.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(3)]));
    await io.read(4);
    await readOption(io);
    io.write(optReply(7, 3, Buffer.concat([u16(0), u64(size), u16(1)])));
    io.write(optReply(7, 1, Buffer.alloc(0)));
    await afterGo(io);
  };

  it('an error reply names the errno and the request; other reads still work', async () => {
    const uri = await scripted(goServer((io) => transmission(io, disk, (offset) => (offset >= 4096 ? 5 : 0))));
    const source = await open(uri);
    expect(Buffer.compare(await source.read(0, 100), disk.subarray(0, 100))).toBe(0);
    const error = await rejection(source.read(5000, 10));
    expect(error.problem).toBe('the NBD server answered EIO (5) to a read of 10 bytes at offset 5000');
    expect(Buffer.compare(await source.read(200, 100), disk.subarray(200, 300))).toBe(0);
    await source.close();
  });

  it('a server that hangs up mid-read, sends garbage, or refuses by policy', async () => {
    const hangsUp = await scripted(goServer(async (io) => {
      await io.read(28);
      io.socket.destroy();
    }));
    const source = await open(hangsUp);
    expect((await rejection(source.read(0, 10))).problem).toBe('the server closed the connection');

    const garbage = await scripted(async (io) => io.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    expect((await rejection(open(garbage))).problem).toBe('not an NBD server (bad greeting)');

    const policy = await scripted(async (io) => {
      io.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(3)]));
      await io.read(4);
      await readOption(io);
      io.write(optReply(7, 0x80000005, Buffer.alloc(0)));
      await readOption(io); // NBD_OPT_ABORT
    });
    expect((await rejection(open(policy))).problem).toMatch(/the server refused export "disk": NBD_REP_ERR_TLS_REQD/);

    const huge = await scripted(goServer(async () => undefined, 2n ** 60n));
    expect((await rejection(open(huge))).problem).toMatch(/export size 1152921504606846976 is too large/);
  });

  it('a server that stops answering times out (option timeout, seconds)', async () => {
    const stalls = await scripted(goServer(async (io) => {
      await io.read(28); // and never answers
      await new Promise(() => undefined);
    }));
    const source = await open(stalls, { timeout: '0.5' });
    expect((await rejection(source.read(0, 10))).problem).toBe('no answer from the NBD server within 0.5 s');
    const silent = await scripted(async () => new Promise(() => undefined));
    expect((await rejection(open(silent, { timeout: '0.5' }))).problem).toBe('no answer from the NBD server within 0.5 s');
  });

  /** Answer the first read with its header and half its data, then `then` (hang up, or nothing). */
  const halfReply = (then: (io: Parameters<Script>[0]) => void): Script =>
    goServer(async (io) => {
      const request = await io.read(28);
      const length = request.readUInt32BE(24);
      io.write(Buffer.concat([u32(0x67446698), u32(0), request.subarray(8, 16), disk.subarray(0, length >> 1)]));
      then(io);
      await new Promise(() => undefined);
    });

  it('a server that hangs up in the middle of a reply\'s data fails the read', async () => {
    // The request must still be pending while its data comes in, or nothing ever settles it.
    const uri = await scripted(halfReply((io) => setTimeout(() => io.socket.destroy(), 50)));
    const source = await open(uri);
    expect((await within(3000, rejection(source.read(0, 4096)))).problem).toBe('the server closed the connection');
  });

  it('a server that stalls in the middle of a reply\'s data times out', async () => {
    const uri = await scripted(halfReply(() => undefined));
    const source = await open(uri, { timeout: '0.5' });
    expect((await within(3000, rejection(source.read(0, 4096)))).problem).toBe('no answer from the NBD server within 0.5 s');
    await source.close();
  });

  /** Answer NBD_OPT_GO with `reply` over and over, until the client goes away (or 5 s pass). */
  const floodGo = (reply: Buffer, seen: number[]): Script => async (io) => {
    io.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(3)]));
    await io.read(4);
    await readOption(io);
    const until = Date.now() + 5000;
    const pump = (): void => {
      while (!io.socket.destroyed && Date.now() < until && io.socket.write(reply));
      if (!io.socket.destroyed && Date.now() < until) io.socket.once('drain', pump);
    };
    pump();
    for (;;) seen.push((await readOption(io))[0]);
  };

  it('NBD_OPT_GO answered with another reply type fails at once, as in QEMU', async () => {
    // NBD_REP_SERVER (an NBD_OPT_LIST answer) without end; QEMU's message, then NBD_OPT_ABORT.
    const seen: number[] = [];
    const uri = await scripted(floodGo(optReply(7, 2, Buffer.concat([u32(1), Buffer.from('x')])), seen));
    const error = await within(3000, rejection(open(uri, { timeout: '10' })));
    expect(error.problem).toBe('NBD protocol error: unexpected reply type 2 (server), expected 3 (info)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([2]);

    const ackWithData = await scripted(async (io) => {
      io.write(Buffer.concat([NBDMAGIC, IHAVEOPT, u16(3)]));
      await io.read(4);
      await readOption(io);
      io.write(optReply(7, 3, Buffer.concat([u16(0), u64(BigInt(disk.length)), u16(1)])));
      io.write(optReply(7, 1, Buffer.from('?')));
      await readOption(io);
    });
    expect((await rejection(open(ackWithData))).problem).toBe('NBD protocol error: server sent invalid NBD_REP_ACK');
  });

  it('a handshake that never ends is bounded by the timeout, even while the server talks', async () => {
    // NBD_REP_INFO with an information type nobody asked for (NBD_INFO_DESCRIPTION) is skipped,
    // so only a deadline on the whole handshake stops this server; the socket is never idle.
    const uri = await scripted(floodGo(optReply(7, 3, Buffer.concat([u16(2), Buffer.from('chatty')])), []));
    const error = await within(3000, rejection(open(uri, { timeout: '0.5' })));
    expect(error.problem).toBe('the NBD server did not finish the handshake within 0.5 s');
  });
});
