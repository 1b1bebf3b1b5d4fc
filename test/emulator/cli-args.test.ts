// --image-opts as qemu-img spells it: the protocol's options under `file.`, the URL as
// `file.url`, the format's options at the top; an unknown key is refused, not ignored.
import { describe, expect, it } from 'vitest';
import { ImageError } from '../../fixtures/emulator/src/block/types.js';
import { imageArgs, parseArgs, UsageError } from '../../fixtures/emulator/src/cli-args.js';

const opts = (text: string) => imageArgs(parseArgs(['--image-opts', text], ['--image-opts']), text);

describe('--image-opts', () => {
  it("takes QEMU's spellings: file.url, file.driver, file.<protocol option>", () => {
    expect(opts('driver=qcow2,file.driver=http,file.url=http://h/d.qcow2,file.timeout=2')).toEqual({
      filename: 'http://h/d.qcow2',
      format: 'qcow2',
      options: { timeout: '2' },
      secrets: {},
      protocol: 'http',
    });
    expect(opts('driver=luks,file.filename=x.luks,key-secret=s0,timeout=5')).toMatchObject({ filename: 'x.luks', format: 'luks', protocol: 'file', options: { 'key-secret': 's0', timeout: '5' } });
  });

  it('refuses an unknown key, naming it', () => {
    expect(() => opts('driver=raw,file.filename=x,file.timeuot=2')).toThrow(UsageError);
    expect(() => opts('driver=raw,file.filename=x,file.timeuot=2')).toThrow(/unknown option 'file.timeuot'/);
    expect(() => opts('file.filename=x,bogus=1')).toThrow(/unknown option 'bogus'/);
  });
});

// The same options as a json:{...} image name (compared with qemu-img in image-options.test.ts).
const named = (name: string) => imageArgs(parseArgs([name], []), name);

describe('json: image names', () => {
  it('flattens nested objects to dotted keys, as QEMU does; true and false are on and off, null is left out', () => {
    expect(named('json:{"driver":"luks","file":{"driver":"http","url":"http://h/d.luks","timeout":2},"key-secret":"s0","x":null}')).toEqual({
      filename: 'http://h/d.luks',
      format: 'luks',
      options: { timeout: '2', 'key-secret': 's0' },
      secrets: {},
      protocol: 'http',
      jsonValues: { driver: 'luks', 'file.driver': 'http', 'file.url': 'http://h/d.luks', 'file.timeout': 2, 'key-secret': 's0' },
    });
    expect(named('json:{"driver":"vpc","file":{"filename":"d.vhd"},"force_size_calc":true}').options).toEqual({ force_size_calc: 'on' });
  });

  it("is the image's error, not a usage error: bad JSON, not an object, an unknown or missing key", () => {
    const problem = (name: string) => {
      try {
        named(name);
      } catch (error) {
        expect(error).toBeInstanceOf(ImageError);
        return (error as ImageError).problem;
      }
      throw new Error(`${name} was accepted`);
    };
    expect(problem('json:{"driver":')).toMatch(/^Could not parse the JSON options: /);
    expect(problem('json:"x"')).toBe('Invalid JSON object given');
    expect(problem('json:null')).toBe('Invalid JSON object given');
    // An array flattens to indexed keys, which no driver takes.
    expect(problem('json:{"file":{"filename":"x","list":[1]}}')).toMatch(/^unknown option 'file\.list\.0'/);
    expect(problem('json:{"driver":"qcow2"}')).toBe('A block device must be specified for "file"');
    expect(problem('json:{"filename":"x"}')).toBe('Must specify either driver or file');
    // The file child with a driver but no name.
    expect(problem('json:{"file":{"driver":"file"}}')).toMatch(/^needs file\.filename=/);
  });

  it('-f goes with a json: name and wins over its driver, as in qemu-img; with --image-opts it is refused', () => {
    const name = 'json:{"driver":"qcow2","file":{"filename":"x"}}';
    expect(imageArgs(parseArgs(['-f', 'raw', name], ['-f']), name).format).toBe('raw');
    expect(() => imageArgs(parseArgs(['-f', 'raw', '--image-opts', 'file.filename=x'], ['-f', '--image-opts']), 'file.filename=x')).toThrow(/--image-opts and --format are mutually exclusive/);
    // Before the options are read: with a name that has no file child, too.
    expect(() => imageArgs(parseArgs(['-f', 'raw', '--image-opts', 'filename=x'], ['-f', '--image-opts']), 'filename=x')).toThrow(/--image-opts and --format are mutually exclusive/);
  });

  it('is only a name: with --image-opts the argument is key=value text', () => {
    expect(() => opts('json:{"file":{"filename":"x"}}')).toThrow(UsageError);
  });
});
