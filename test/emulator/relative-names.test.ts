// How a name one image gives for another (a backing file, an extent) resolves, and whether it
// stays inside the referring image's folder (else --allow-unsafe-paths is needed).
import { describe, expect, it } from 'vitest';
import { resolveRelativeName } from '../../fixtures/emulator/src/block/relative-names.js';

describe('resolveRelativeName', () => {
  it('an absolute name is judged by where the image is, however the image was named', () => {
    expect(resolveRelativeName('/img/top.qcow2', '/img/base.raw')).toEqual({ name: '/img/base.raw', inside: true });
    expect(resolveRelativeName('top.qcow2', '/img/base.raw', '/img')).toEqual({ name: '/img/base.raw', inside: true });
    expect(resolveRelativeName('./sub/../top.qcow2', '/img/base.raw', '/img')).toEqual({ name: '/img/base.raw', inside: true });
    expect(resolveRelativeName('top.qcow2', '/etc/passwd', '/img')).toEqual({ name: '/etc/passwd', inside: false });
    // Without a working directory (a browser) a relative image cannot vouch for an absolute name.
    expect(resolveRelativeName('top.qcow2', '/img/base.raw')).toEqual({ name: '/img/base.raw', inside: false });
  });

  it('file: names are paths, not URLs: nothing is percent-encoded', () => {
    expect(resolveRelativeName('file:///img/sp.qcow2', 'my base.raw')).toEqual({ name: '/img/my base.raw', inside: true });
    expect(resolveRelativeName('file:/img/sp.qcow2', 'é.raw')).toEqual({ name: '/img/é.raw', inside: true });
  });

  it('URLs: relative names resolve against the image; an absolute URL in its folder is inside', () => {
    expect(resolveRelativeName('http://h/d/top.qcow2', 'base.raw')).toEqual({ name: 'http://h/d/base.raw', inside: true });
    expect(resolveRelativeName('http://h/d/top.qcow2', 'http://h/d/base.raw')).toEqual({ name: 'http://h/d/base.raw', inside: true });
    expect(resolveRelativeName('http://h/d/top.qcow2', 'http://h/other/base.raw')).toEqual({ name: 'http://h/other/base.raw', inside: false });
    expect(resolveRelativeName('http://h/d/top.qcow2', 'http://evil/d/base.raw')).toEqual({ name: 'http://evil/d/base.raw', inside: false });
    expect(resolveRelativeName('/img/top.qcow2', 'http://h/base.raw')).toEqual({ name: 'http://h/base.raw', inside: false });
  });
});
