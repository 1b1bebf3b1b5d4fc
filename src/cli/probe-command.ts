// gen-modules probe FILE...: how the index decides, without loading any driver. Probe modules
// (TypeScript sources) are compiled on the fly with esbuild, as the build would compile them.
import { open } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { hasErrors } from '../diagnostics/diagnostic.js';
import { formatDiagnostic } from '../diagnostics/format.js';
import { compileProbeIndex } from '../probe/compile.js';
import { probeWithIndex, type ProbeModule } from '../runtime/probe.js';
import { probeModulePath, scan } from '../scanner/scan.js';
import type { CliIo } from './main.js';

export async function runProbe(loaded: LoadedConfig, files: readonly string[], json: boolean, io: CliIo): Promise<number> {
  const scanned = await scan(loaded);
  if (hasErrors(scanned.diagnostics)) {
    for (const d of scanned.diagnostics) io.stderr.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
  const { index } = compileProbeIndex(scanned.drivers, probeModulePath);
  const loadModule = async (id: string): Promise<ProbeModule> => {
    const { build } = await import('esbuild');
    const result = await build({ entryPoints: [resolve(loaded.root, id)], bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'silent' });
    const code = result.outputFiles[0]!.text;
    const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as { default: ProbeModule };
    return mod.default;
  };
  let status = 0;
  const results: unknown[] = [];
  for (const file of files) {
    const path = resolve(io.cwd, file);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      io.stderr.write(`gen-modules: ${file}: cannot open (${(error as NodeJS.ErrnoException).code ?? String(error)})\n`);
      status = 1;
      continue;
    }
    try {
      const size = (await handle.stat()).size;
      const head = new Uint8Array(Math.min(size, index.headBytes));
      await handle.read(head, 0, head.length, 0);
      const tailLength = Math.min(size, index.tailBytes);
      const tail = new Uint8Array(tailLength);
      if (tailLength > 0) await handle.read(tail, 0, tailLength, size - tailLength);
      const result = await probeWithIndex(index, { head, tail, size, filename: basename(file) === file ? file : file }, loadModule);
      results.push({ file, ...result });
      if (!json) {
        io.stdout.write(`${file}: ${result.format} (score ${result.score})\n`);
        for (const m of result.matched) io.stdout.write(`  matched ${m.driver} score ${m.score}: ${m.because.join('; ')}\n`);
        io.stdout.write(`  read ${result.bytesRead} bytes (head ${head.length}, tail ${tail.length}); probe modules loaded: ${result.modulesLoaded.join(', ') || 'none'}; driver chunks loaded: none\n`);
      }
    } finally {
      await handle.close();
    }
  }
  if (json) io.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  return status;
}
