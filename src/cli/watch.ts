// --watch on the command line: the incremental watcher (codegen/watch-generate.ts) reporting
// each run like a one-shot run, plus a progress line on a terminal for long scans.
import { relative } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import type { GenerateResult } from '../codegen/generate.js';
import { watchGenerate } from '../codegen/watch-generate.js';
import type { CliIo } from './main.js';

/** The CLI's --watch: runs until SIGINT, reporting each run. */
export async function watchAndGenerate(loaded: LoadedConfig, io: CliIo, report: (result: GenerateResult) => number): Promise<number> {
  const progress = progressLine(io);
  const watcher = watchGenerate(loaded, {
    onRun: ({ result, changed, ms }) => {
      progress.clear();
      if (changed.length > 0) {
        const names = changed.map((p) => relative(io.cwd, p) || p);
        io.stderr.write(`changed: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}\n`);
      }
      report(result);
      io.stderr.write(`[${Math.round(ms)} ms] ${result.stats ? `read ${result.stats.read} of ${result.stats.files} files, parsed ${result.stats.parsed}` : ''}\n`);
    },
    onConfigError: (error) => {
      progress.clear();
      io.stderr.write(`gen-modules: ${error.message}\n(keeping the previous config until this is fixed)\n`);
    },
    onWriteError: (error) => {
      progress.clear();
      io.stderr.write(`gen-modules: ${error.message}\n(still watching: the next change tries again)\n`);
    },
    onProgress: progress.update,
  });
  await watcher.ready;
  io.stderr.write(`watching ${relative(io.cwd, loaded.root) || '.'} for driver changes (Ctrl-C to stop)\n`);
  return new Promise<number>((done) => {
    process.once('SIGINT', () => {
      watcher.close();
      done(0);
    });
  });
}

/**
 * "scanning 1250/10000 files" on a terminal for scans that take a while: on stderr, only when it
 * is a TTY, at most ten updates a second, erased when the scan ends.
 */
export function progressLine(io: Pick<CliIo, 'stderr'>, delayMs = 250): { update: (done: number, total: number) => void; clear: () => void } {
  let started: number | undefined;
  let last = 0;
  let shown = false;
  return {
    update(done, total) {
      if (!io.stderr.isTTY) return;
      const now = performance.now();
      started ??= now;
      if (done >= total) {
        started = undefined;
        return;
      }
      if (now - started < delayMs || now - last < 100) return;
      last = now;
      shown = true;
      io.stderr.write(`\r\u001b[Kscanning ${done}/${total} files`);
    },
    clear() {
      started = undefined;
      if (shown) io.stderr.write('\r\u001b[K');
      shown = false;
    },
  };
}
