// The esbuild plugin turns metafile paths into absolute paths as text where it can: the result must
// be exactly what path.resolve gives, for every shape of path a metafile (or a namespace) can hold.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metafilePaths } from '../../plugin/esbuild.js';

describe('metafilePaths', () => {
  const paths = [
    'src/main.ts',
    'dist/drivers/qcow2-ABCDEFGH.mjs',
    'node_modules/gen-modules/dist/runtime.js',
    '../outside/file.ts',
    './here.ts',
    'a/./b.ts',
    'a/../b.ts',
    'a//b.ts',
    'folder/',
    '.hidden/x.ts',
    'x/.hidden.ts',
    'gen-modules-stale:/work/app/src/drivers/gone.ts',
    '/absolute/path.ts',
    'back\\slash.ts',
    'ünïcode/файл.ts',
  ];
  it.each(['/work/app', '/work/app/', '/'])('gives what path.resolve gives, with cwd %s', (cwd) => {
    const abs = metafilePaths(cwd);
    for (const path of paths) {
      expect(abs(path), path).toBe(resolve(cwd, path));
      expect(abs(path), `${path} (again, from the memo)`).toBe(resolve(cwd, path));
    }
  });
});
