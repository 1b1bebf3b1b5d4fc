// The fast file listing gives exactly what tinyglobby gives, for every pattern it handles itself,
// and hands the others to tinyglobby.
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { glob } from 'tinyglobby';
import { describe, expect, it } from 'vitest';
import { compile, listFiles } from '../../src/scanner/list-files.js';

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'gm-list-'));
  const files = [
    'src/drivers/a.ts',
    'src/drivers/b.tsx',
    'src/drivers/c.d.ts',
    'src/drivers/.hidden.ts',
    'src/drivers/.dot/d.ts',
    'src/drivers/deep/er/e.ts',
    'src/drivers/node_modules/f.ts',
    'src/drivers/x1.ts',
    'src/drivers/xy.ts',
    'src/other/g.ts',
    'src/other/g.js',
    'node_modules/pkg/h.ts',
    'top.ts',
    'lib/q[1].ts',
  ];
  for (const file of files) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), '');
  }
  symlinkSync(join(root, 'src/other'), join(root, 'src/drivers/linked'), 'dir');
  return root;
}

describe('listFiles', () => {
  const root = tree();
  it.each([
    [['src/drivers/*.ts']],
    [['src/**/*.ts']],
    [['src/drivers/**']],
    [['**/*.ts']],
    [['src/*/?.ts']],
    [['src/drivers/x[0-9].ts']],
    [['src/{drivers,other}/*.{ts,js}']],
    [['src/drivers/*.ts', 'src/other/*.ts']],
    [['./src/drivers/*.ts']],
    [['src/drivers/.dot/*.ts']],
    [['src/drivers/a.ts']],
    [['!src/drivers/a.ts', 'src/**/*.ts']],
  ])('%j', async (patterns) => {
    const expected = (await glob(patterns, { cwd: root, onlyFiles: true, ignore: ['**/node_modules/**'] })).sort();
    expect((await listFiles(patterns, root, [])).sort()).toEqual(expected);
  });

  it('applies ignore patterns like tinyglobby', async () => {
    const patterns = ['src/**/*.ts'];
    const ignore = ['src/drivers/deep/**', 'src/other/*.ts'];
    const expected = (await glob(patterns, { cwd: root, onlyFiles: true, ignore: ['**/node_modules/**', ...ignore] })).sort();
    expect((await listFiles(patterns, root, ignore)).sort()).toEqual(expected);
  });

  it('compiles plain globs itself and leaves the rest to tinyglobby', () => {
    expect(compile('src/drivers/**/*.ts')?.base).toBe('src/drivers');
    for (const pattern of ['!x/*.ts', 'src/+(a|b).ts', 'src/.cache/*.ts', 'src/a.ts', 'a\\*b/*.ts', '/abs/*.ts', 'src/{a,{b,c}}/*.ts']) {
      expect(compile(pattern)).toBeUndefined();
    }
  });
});
