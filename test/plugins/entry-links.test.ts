// The esbuild plugin's entry links (plugin/entry-links.ts): a set of links whose root still points
// at `/` is pooled for the next build of the process (unless its link went away meanwhile); one
// that made a mirror is deleted.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEntryLinks } from '../../plugin/entry-links.js';
import { repoRoot } from '../support/paths.js';

const files = [join(repoRoot, 'package.json'), join(repoRoot, 'README.md')];
/** `<folder>/root/<absolute file>` -> `<folder>`. */
const folderOf = (path: string) => path.slice(0, path.indexOf('/root/'));

describe('entry links', () => {
  it('reuses an untouched folder, deletes one with a mirror, and leads to the files either way', () => {
    const first = createEntryLinks(files)!;
    expect(first).toBeDefined();
    expect(readFileSync(first.path(0), 'utf8')).toBe(readFileSync(files[0]!, 'utf8'));
    const folder = folderOf(first.path(0));
    first.remove();
    expect(existsSync(folder)).toBe(true);

    const second = createEntryLinks(files)!;
    expect(folderOf(second.path(1))).toBe(folder);
    // Another set while the first is in use gets a folder of its own.
    const third = createEntryLinks(files)!;
    expect(folderOf(third.path(0))).not.toBe(folder);
    third.remove();

    second.point(1, false);
    expect(readFileSync(second.path(1), 'utf8')).toBe('');
    expect(readFileSync(second.path(0), 'utf8')).toBe(readFileSync(files[0]!, 'utf8'));
    second.remove();
    expect(existsSync(folder)).toBe(false);
    const fourth = createEntryLinks(files)!;
    expect(folderOf(fourth.path(0))).not.toBe(folder);
    fourth.remove();

    // A pooled folder emptied meanwhile (a temp cleaner) is not handed out again.
    const pooledFolder = folderOf(fourth.path(0));
    rmSync(join(pooledFolder, 'root'));
    const fifth = createEntryLinks(files)!;
    expect(folderOf(fifth.path(0))).not.toBe(pooledFolder);
    expect(existsSync(pooledFolder)).toBe(false);
    expect(readFileSync(fifth.path(1), 'utf8')).toBe(readFileSync(files[1]!, 'utf8'));
    fifth.remove();
  });
});
