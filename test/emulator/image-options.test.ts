// Images named by their options, each case compared with qemu-img: a `json:{...}` image name (the
// same options as --image-opts, nested objects for dotted keys), the `json:{...}` name that
// qemu-img info gives an image opened with a format option (a key secret, vpc's size
// calculation), in QEMU's own key order and escaping, and the refusal of a format option that the
// opened format does not take.
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lazyEmu } from '../support/paths.js';
import { runNode, runProgram } from '../support/run-node.js';
import { freePort, serveQemuNbd, stopQemuNbd } from '../support/qemu-nbd.js';
import { requireTool } from '../support/system.js';
import { runOk } from './disk-formats-support.js';

const work = mkdtempSync(join(tmpdir(), 'gm-image-options-'));
const haveQemu = requireTool('qemu-img', 'comparing image names with qemu-img info');
const haveNbd = haveQemu && requireTool('qemu-nbd', 'comparing nbd image names with qemu-img info');
const qcow2 = join(work, 'disk.qcow2');
const vhd = join(work, 'disk.vhd');
const luks = join(work, 'disk.luks');
const odd = join(work, 'é x"q.qcow2');
const secret = ['--object', 'secret,id=s,data=passphrase'];

beforeAll(() => {
  if (!haveQemu) return;
  runOk('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, '1M']);
  runOk('qemu-img', ['create', '-q', '-f', 'vpc', vhd, '1M']);
  runOk('qemu-img', ['create', '-q', '-f', 'luks', ...secret, '-o', 'key-secret=s,iter-time=10', luks, '1M']);
  writeFileSync(odd, readFileSync(qcow2));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `info` by qemu-img and by the emulator: the first line of each and the JSON `filename` of each. */
async function bothInfos(args: string[]): Promise<{ theirs: string[]; ours: string[] }> {
  const theirs = await runProgram('qemu-img', ['info', ...args]);
  const theirsJson = await runProgram('qemu-img', ['info', '--output=json', ...args]);
  expect(theirs.code, `qemu-img info ${args.join(' ')}: ${theirs.stderr}`).toBe(0);
  const ours = await runNode([lazyEmu, 'info', ...args]);
  const oursJson = await runNode([lazyEmu, 'info', '--output=json', ...args]);
  expect(ours.code, `emu info ${args.join(' ')}: ${ours.stderr}`).toBe(0);
  const filename = (text: string) => (JSON.parse(text) as { filename: string }).filename;
  return { theirs: [theirs.stdout.split('\n')[0]!, filename(theirsJson.stdout)], ours: [ours.stdout.split('\n')[0]!, filename(oursJson.stdout)] };
}

describe('images named by their options', () => {
  it.skipIf(!haveQemu)('a json: name opens what its options describe, and info names the image as qemu-img info does', async () => {
    const cases = [
      [`json:{"driver":"qcow2","file":{"driver":"file","filename":"${qcow2}"}}`],
      // No driver: the format is probed.
      [`json:{"file":{"filename":"${qcow2}"}}`],
      // A nested object is a dotted key; a number stays a number in the name.
      [`json:{"driver":"qcow2","file":{"filename":"${qcow2}"},"encrypt":{"key-secret":"s"}}`],
      [`json:{"driver":"qcow2","file":{"filename":"${qcow2}"},"encrypt.key-secret":5}`],
      [`json:{"driver":"vpc","file":{"filename":"${vhd}"},"force_size_calc":"chs"}`],
      // --image-opts with a format option: named by the options, the probed format's driver included.
      [...secret, '--image-opts', `driver=luks,file.filename=${luks},key-secret=s`],
      [...secret, '--image-opts', `file.filename=${luks},key-secret=s`],
      ['--image-opts', `driver=vpc,force_size_calc=chs,file.filename=${vhd}`],
      // A protocol as the driver takes the filename itself (and reads the bytes as they are).
      ['--image-opts', `driver=file,filename=${qcow2}`],
      // QEMU's escaping: a quote as \", a character outside ASCII as \u00E9.
      ['--image-opts', `driver=qcow2,encrypt.key-secret=s,file.filename=${odd}`],
      // Without a format option the name is the file's.
      ['--image-opts', `driver=qcow2,file.filename=${qcow2}`],
    ];
    for (const args of cases) {
      const { theirs, ours } = await bothInfos(args);
      expect(ours, args.join(' ')).toEqual(theirs);
    }
    // -f wins over the name's driver.
    const forced = ['info', '-f', 'raw', `json:{"driver":"qcow2","file":{"filename":"${qcow2}"}}`];
    const formatLine = (text: string) => text.split('\n')[1];
    expect(formatLine((await runNode([lazyEmu, ...forced])).stdout)).toBe(formatLine(runOk('qemu-img', forced)));
  }, 60_000);

  it.skipIf(!haveQemu)('over http: the URL in the name; protocol options (timeout, readahead) leave the name as it is', async () => {
    const bytes = readFileSync(qcow2);
    const server: Server = createServer((req, res) => {
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (req.method === 'HEAD' || !range) {
        res.writeHead(200, { 'Content-Length': bytes.length, 'Accept-Ranges': 'bytes' }).end(req.method === 'HEAD' ? undefined : bytes);
        return;
      }
      const start = Number(range[1]);
      const end = Math.min(range[2] === '' ? bytes.length - 1 : Number(range[2]), bytes.length - 1);
      res.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1, 'Accept-Ranges': 'bytes' }).end(bytes.subarray(start, end + 1));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.qcow2`;
    try {
      for (const args of [
        ['--image-opts', `driver=qcow2,encrypt.key-secret=s,file.driver=http,file.url=${url},file.timeout=7`],
        ['--image-opts', `driver=qcow2,file.driver=http,file.url=${url},file.timeout=7,file.readahead=65536`],
        [`json:{"driver":"qcow2","encrypt.key-secret":"s","file":{"driver":"http","url":"${url}"}}`],
        // The protocol as the driver: curl's drivers take the URL as `url`.
        ['--image-opts', `driver=http,url=${url}`],
      ]) {
        const { theirs, ours } = await bothInfos(args);
        expect(ours, args.join(' ')).toEqual(theirs);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);

  it.skipIf(!haveNbd)('over nbd given by its options (server.*, export): the node named as qemu-img names it', async () => {
    const port = await freePort();
    const server = await serveQemuNbd(['--bind=127.0.0.1', `--port=${port}`, '-x', 'exp', '-f', 'raw', vhd], { port });
    try {
      const inet = (order: string[]) => order.map((key) => ({ type: 'file.server.type=inet', host: 'file.server.host=127.0.0.1', port: `file.server.port=${port}`, export: 'file.export=exp' })[key]!);
      for (const args of [
        // No format option: the URL QEMU makes of the address.
        ['--image-opts', ['driver=vpc', 'file.driver=nbd', ...inet(['type', 'host', 'port', 'export'])].join(',')],
        ['--image-opts', `driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=${port},export=exp`],
        // A format option: json:{...}, the node's keys in QEMU's order (server.host and
        // server.port share a hash bucket: their order follows the way they were given).
        ['--image-opts', ['driver=vpc', 'force_size_calc=chs', 'file.driver=nbd', ...inet(['type', 'host', 'port', 'export'])].join(',')],
        ['--image-opts', ['driver=vpc', 'force_size_calc=chs', ...inet(['port', 'export', 'host', 'type']), 'file.driver=nbd'].join(',')],
        [`json:{"driver":"vpc","force_size_calc":"chs","file":{"driver":"nbd","server":{"port":"${port}","type":"inet","host":"127.0.0.1"},"export":"exp"}}`],
        [`json:{"driver":"vpc","force_size_calc":"chs","file":{"server.port":"${port}","driver":"nbd","server.host":"127.0.0.1","server.type":"inet","export":"exp"}}`],
        [`json:{"driver":"vpc","force_size_calc":"chs","file":{"server.host":"127.0.0.1","driver":"nbd","server.port":${port},"server.type":"inet","export":"exp"}}`],
      ]) {
        const { theirs, ours } = await bothInfos(args);
        expect(ours, args.join(' ')).toEqual(theirs);
      }
      // What is missing, in QEMU's words; a file name is not what nbd as a driver takes.
      for (const [options, problem] of [
        [`driver=vpc,file.driver=nbd,file.server.host=127.0.0.1,file.server.port=${port}`, /: Parameter 'type' is missing$/],
        [`driver=vpc,file.driver=nbd,file.server.type=inet,file.server.port=${port}`, /: Parameter 'host' is missing$/],
        [`driver=vpc,file.driver=nbd,file.filename=nbd://127.0.0.1:${port}/exp`, /: NBD server address missing$/],
      ] as const) {
        const theirs = await runProgram('qemu-img', ['info', '--image-opts', options]);
        expect(theirs.stderr.trim()).toMatch(problem);
        const ours = await runNode([lazyEmu, 'info', '--image-opts', options]);
        expect(ours.code).toBe(1);
        expect(ours.stderr.trim()).toMatch(problem);
      }
    } finally {
      await stopQemuNbd([server]);
    }
  }, 60_000);

  it.skipIf(!haveQemu)('refuses what qemu-img refuses: bad JSON, JSON that is not an object, a format option the format does not take', async () => {
    const cases: { args: string[]; problem: RegExp }[] = [
      { args: ['json:{bad'], problem: /: Could not parse the JSON options: / },
      { args: ['json:[1]'], problem: /: Invalid JSON object given$/ },
      { args: ['--image-opts', `driver=raw,file.filename=${qcow2},key-secret=s`], problem: /: Block format 'raw' does not support the option 'key-secret'$/ },
      { args: ['--image-opts', `file.filename=${qcow2},force_size_calc=chs`], problem: /: Block format 'qcow2' does not support the option 'force_size_calc'$/ },
      { args: [`json:{"driver":"file","filename":"${qcow2}","key-secret":"s"}`], problem: /: Block protocol 'file' doesn't support the option 'key-secret'$/ },
      // Which node names the file: a format (or no driver) needs the `file` child; a top-level
      // filename belongs to a protocol given as the driver.
      { args: ['--image-opts', `filename=${qcow2}`], problem: /: Must specify either driver or file$/ },
      { args: [`json:{"filename":"${qcow2}"}`], problem: /: Must specify either driver or file$/ },
      { args: ['--image-opts', `file.url=http://127.0.0.1:9/x`], problem: /: Must specify either driver or file$/ },
      { args: ['--image-opts', `driver=qcow2,filename=${qcow2}`], problem: /: A block device must be specified for "file"$/ },
      { args: ['--image-opts', `file.driver=bogus,file.filename=${qcow2}`], problem: /: Unknown driver 'bogus'$/ },
      // `file.filename` is a path for the file protocol, never read for a protocol prefix: no
      // connection is tried.
      { args: ['--image-opts', 'file.filename=nbd://127.0.0.1:9/x'], problem: /nbd:\/\/127\.0\.0\.1:9\/x'?: no such file/i },
    ];
    for (const { args, problem } of cases) {
      const theirs = await runProgram('qemu-img', ['info', ...args]);
      expect(theirs.code, `qemu-img info ${args.join(' ')}`).toBe(1);
      expect(theirs.stderr.trim(), 'qemu-img says so too').toMatch(problem);
      const ours = await runNode([lazyEmu, 'info', ...args]);
      expect(ours.code, `emu info ${args.join(' ')}: ${ours.stderr}`).toBe(1);
      // One line naming the image, no usage text and no stack.
      expect(ours.stderr.trim().split('\n'), ours.stderr).toHaveLength(1);
      expect(ours.stderr.trim()).toMatch(problem);
    }
  }, 60_000);

  it.skipIf(!haveQemu)("the user's options are the top image's, backing.* ones its backing file's: an encrypted backing file does not get the top's key", async () => {
    const base = join(work, 'enc-base.qcow2');
    const top = join(work, 'enc-top.qcow2');
    const encrypt = 'encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10';
    runOk('qemu-img', ['create', '-q', '-f', 'qcow2', ...secret, '-o', encrypt, base, '1M']);
    runOk('qemu-img', ['create', '-q', '-f', 'qcow2', ...secret, '-o', encrypt, '-b', base, '-F', 'qcow2', top, '1M']);
    const args = [...secret, '--image-opts', `driver=qcow2,encrypt.key-secret=s,file.filename=${top}`];
    const problem = /ould not open backing file.*: Parameter 'encrypt\.key-secret' is required for cipher/;
    const theirs = await runProgram('qemu-img', ['convert', '-O', 'raw', ...args, join(work, 'theirs-enc.raw')]);
    expect(theirs.code).toBe(1);
    expect(theirs.stderr).toMatch(problem);
    const ours = await runNode([lazyEmu, 'convert', '-O', 'raw', ...args, join(work, 'ours-enc.raw')]);
    expect(ours.code, ours.stderr).toBe(1);
    expect(ours.stderr).toMatch(problem);

    // Its own options: `backing.<option>`, as in QEMU; the chain then reads as qemu-img reads it.
    runOk('qemu-io', [...secret, '--image-opts', `driver=qcow2,encrypt.key-secret=s,file.filename=${base}`, '-c', 'write -P 0x33 0 65536']);
    const withBacking = [...secret, '--image-opts', `driver=qcow2,encrypt.key-secret=s,file.filename=${top},backing.encrypt.key-secret=s`];
    runOk('qemu-img', ['convert', '-O', 'raw', ...withBacking, join(work, 'theirs-chain.raw')]);
    const chain = await runNode([lazyEmu, 'convert', '-O', 'raw', ...withBacking, join(work, 'ours-chain.raw')]);
    expect(chain.code, chain.stderr).toBe(0);
    const raw = readFileSync(join(work, 'ours-chain.raw'));
    expect(raw.equals(readFileSync(join(work, 'theirs-chain.raw')))).toBe(true);
    expect(raw[0]).toBe(0x33);

    // Refused by both: backing options where backing files are not opened (info), options for a
    // backing file that the base image does not have, a foreign option for the backing file.
    for (const [command, options, problem] of [
      ['info', `driver=qcow2,encrypt.key-secret=s,file.filename=${top},backing.encrypt.key-secret=s`, /: Block format 'qcow2' does not support the option 'backing\.encrypt\.key-secret'$/],
      ['convert', `driver=qcow2,encrypt.key-secret=s,file.filename=${top},backing.encrypt.key-secret=s,backing.backing.encrypt.key-secret=s`, /ould not open backing file.*: Must specify either driver or file$/],
      ['convert', `driver=qcow2,encrypt.key-secret=s,file.filename=${top},backing.key-secret=s`, undefined],
    ] as const) {
      const args = [command, ...(command === 'convert' ? ['-O', 'raw'] : []), ...secret, '--image-opts', options, ...(command === 'convert' ? [join(work, 'refused.raw')] : [])];
      const theirs = await runProgram('qemu-img', args);
      expect(theirs.code, `qemu-img ${args.join(' ')}`).toBe(1);
      const ours = await runNode([lazyEmu, ...args]);
      expect(ours.code, ours.stderr).toBe(1);
      expect(ours.stderr.trim().split('\n')).toHaveLength(1);
      if (problem) {
        expect(theirs.stderr.trim()).toMatch(problem);
        expect(ours.stderr.trim()).toMatch(problem);
      }
    }
  }, 60_000);

  it.skipIf(!haveQemu)('convert reads a json: name as qemu-img convert does', async () => {
    runOk('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 4096 8192', qcow2]);
    const name = `json:{"driver":"qcow2","file":{"driver":"file","filename":"${qcow2}"}}`;
    runOk('qemu-img', ['convert', '-O', 'raw', name, join(work, 'theirs.raw')]);
    const ours = await runNode([lazyEmu, 'convert', '-O', 'raw', name, join(work, 'ours.raw')]);
    expect(ours.code, ours.stderr).toBe(0);
    expect(readFileSync(join(work, 'ours.raw')).equals(readFileSync(join(work, 'theirs.raw')))).toBe(true);
  }, 60_000);
});
