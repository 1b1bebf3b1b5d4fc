// The esbuild plugin's entry links (plugin/entry-links.ts): a set of links whose root still points
// at `/` is pooled for the next build of the process (unless its link went away meanwhile); one
// that made a mirror is deleted.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEntryLinks, sweepAbandonedFolders } from '../../plugin/entry-links.js';
import { repoRoot, tsxLoader } from '../support/paths.js';
import { runNode, runProgram } from '../support/run-node.js';
import { systemRequired } from '../support/system.js';

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

  it("names a folder by host and process, and sweeps those of this host's processes that are gone", async () => {
    const links = createEntryLinks(files)!;
    const name = basename(folderOf(links.path(0)));
    links.remove();
    const [, host, pid] = /^gen-modules-entries-([0-9a-f]{8})-(\d+)-\w{6}$/.exec(name) ?? [];
    expect(host, name).toBeDefined();
    expect(Number(pid)).toBe(process.pid);

    const dir = mkdtempSync(join(tmpdir(), 'gm-sweep-'));
    try {
      // A process that has ended: its id is free (reuse within this test is not a concern).
      const gone = spawnSync(process.execPath, ['-e', '']).pid;
      const folder = (label: string) => {
        mkdirSync(join(dir, label, 'mirror'), { recursive: true });
        writeFileSync(join(dir, label, 'stub.ts'), '');
        return label;
      };
      const dead = folder(`gen-modules-entries-${host}-${gone}-AbC123`);
      const kept = [
        folder(`gen-modules-entries-${host}-${process.pid}-AbC123`), // this process
        folder(`gen-modules-entries-${host}-${process.ppid}-AbC123`), // a running process
        folder(`gen-modules-entries-${host === '00000000' ? '11111111' : '00000000'}-${gone}-AbC123`), // another host
        folder(`gen-modules-entries-${host}-x${gone}-AbC123`), // not named like ours
        folder(`someone-else-${host}-${gone}-AbC123`),
      ];
      expect(await sweepAbandonedFolders(dir)).toEqual([dead]);
      expect(readdirSync(dir).sort()).toEqual([...kept].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The whole path in real processes, each with a temp folder of this test's own (TMPDIR).
  it('a process killed by a signal leaves its folder; the next process that makes one removes it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-sweep-e2e-'));
    try {
      const script = (end: string) =>
        [
          `import { createEntryLinks } from ${JSON.stringify(join(repoRoot, 'plugin/entry-links.ts'))};`,
          `const links = createEntryLinks(${JSON.stringify(files)});`,
          `console.log(links.path(0));`,
          end,
        ].join('\n');
      const run = (end: string) => {
        const file = join(dir, `script-${Math.random().toString(36).slice(2)}.mts`);
        writeFileSync(file, script(end));
        return runNode(['--import', tsxLoader, file], { env: { ...process.env, TMPDIR: dir } });
      };
      const linkFolders = () => readdirSync(dir).filter((f) => f.startsWith('gen-modules-entries-'));

      const killed = await run(`process.kill(process.pid, 'SIGKILL');`);
      expect(killed.code).toBeNull();
      const left = basename(folderOf(killed.stdout.trim()));
      expect(linkFolders()).toEqual([left]);

      const next = await run('');
      expect(next.code, next.stderr).toBe(0);
      expect(basename(folderOf(next.stdout.trim()))).not.toBe(left);
      // The killed process's folder swept, the second one's removed at its exit.
      expect(linkFolders()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Containers that share a temp folder (a volume shared in a pod) each see pids of their own: a
  // folder of another pid namespace must not look abandoned because its pid is not running here.
  it('a process in another pid namespace does not sweep this one\'s folders', async () => {
    const probe = spawnSync('unshare', ['--pid', '--fork', 'true'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      const message = `unshare --pid is not available here (${(probe.error?.message ?? probe.stderr).trim()}): this test needs it (root, util-linux)`;
      if (systemRequired) throw new Error(`${message}; GEN_MODULES_REQUIRE_SYSTEM=1 forbids skipping`);
      console.warn(`skipped: ${message}`);
      return;
    }
    const links = createEntryLinks(files)!;
    const ours = basename(folderOf(links.path(0)));
    links.remove();
    const tag = /^gen-modules-entries-([0-9a-f]{8})-/.exec(ours)![1]!;
    const dir = mkdtempSync(join(tmpdir(), 'gm-sweep-ns-'));
    try {
      const script = join(dir, 'sweep.mts');
      writeFileSync(
        script,
        [
          `import { createEntryLinks, sweepAbandonedFolders } from ${JSON.stringify(join(repoRoot, 'plugin/entry-links.ts'))};`,
          `const links = createEntryLinks(${JSON.stringify(files)});`,
          `await sweepAbandonedFolders();`,
          `console.log(links.path(0));`,
        ].join('\n'),
      );
      // A pid that runs neither here (it has ended) nor in a new namespace (only 1 and 2 there).
      const gone = spawnSync(process.execPath, ['-e', '']).pid!;
      const foreign = `gen-modules-entries-${tag}-${gone}-AbC123`;
      const sweep = async (command: string[]) => {
        mkdirSync(join(dir, foreign), { recursive: true });
        const [program, ...args] = [...command, process.execPath, '--import', tsxLoader, script];
        const run = await runProgram(program!, args, { env: { ...process.env, TMPDIR: dir } });
        expect(run.code, run.stderr).toBe(0);
        return { own: basename(folderOf(run.stdout.trim())), kept: existsSync(join(dir, foreign)) };
      };
      const elsewhere = await sweep(['unshare', '--pid', '--fork']);
      expect(elsewhere.own.startsWith(`gen-modules-entries-${tag}-`)).toBe(false);
      expect(elsewhere.kept).toBe(true);
      // The same sweep from this namespace does remove it: the folder was one it could have taken.
      const here = await sweep([]);
      expect(here.own.startsWith(`gen-modules-entries-${tag}-`)).toBe(true);
      expect(here.kept).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
