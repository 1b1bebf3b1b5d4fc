// --image-opts as qemu-img spells it: the protocol's options under `file.`, the URL as
// `file.url`, the format's options at the top; an unknown key is refused, not ignored.
import { describe, expect, it } from 'vitest';
import { imageArgs, parseArgs, UsageError } from '../../fixtures/emulator/src/cli-args.js';

const opts = (text: string) => imageArgs(parseArgs(['--image-opts', text], ['--image-opts']), text);

describe('--image-opts', () => {
  it("takes QEMU's spellings: file.url, file.driver, file.<protocol option>", () => {
    expect(opts('driver=qcow2,file.driver=http,file.url=http://h/d.qcow2,file.timeout=2')).toEqual({
      filename: 'http://h/d.qcow2',
      format: 'qcow2',
      options: { timeout: '2' },
      secrets: {},
    });
    expect(opts('driver=luks,file.filename=x.luks,key-secret=s0,timeout=5')).toMatchObject({ filename: 'x.luks', format: 'luks', options: { 'key-secret': 's0', timeout: '5' } });
  });

  it('refuses an unknown key, naming it', () => {
    expect(() => opts('driver=raw,file.filename=x,file.timeuot=2')).toThrow(UsageError);
    expect(() => opts('driver=raw,file.filename=x,file.timeuot=2')).toThrow(/unknown option 'file.timeuot'/);
    expect(() => opts('file.filename=x,bogus=1')).toThrow(/unknown option 'bogus'/);
  });
});
