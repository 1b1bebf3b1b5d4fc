// --watch: regenerate when a driver file or the config changes. The last good output stays on
// disk while the sources have errors (generateFromConfig writes nothing then).
import { watch } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { generateFromConfig, type GenerateResult } from '../codegen/generate.js';
import type { CliIo } from './main.js';

export async function watchAndGenerate(loaded: LoadedConfig, io: CliIo, report: (result: GenerateResult) => number): Promise<number> {
  const out = resolve(loaded.root, loaded.config.out);
  let running = false;
  let again = false;
  const run = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    do {
      again = false;
      report(await generateFromConfig(loaded));
    } while (again);
    running = false;
  };
  await run();
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(loaded.root, { recursive: true }, (_event, name) => {
    if (!name) return;
    const absolute = resolve(loaded.root, name.toString());
    if (absolute === out || absolute.includes('/node_modules/') || !/\.(m?ts|tsx|json)$/.test(absolute)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(), 50);
  });
  io.stderr.write(`watching ${relative(io.cwd, loaded.root) || '.'} for driver changes (Ctrl-C to stop)\n`);
  return new Promise<number>((done) => {
    process.once('SIGINT', () => {
      watcher.close();
      done(0);
    });
  });
}
