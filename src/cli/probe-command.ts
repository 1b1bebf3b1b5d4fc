// gen-modules probe FILE...: how the index decides, without loading any driver. The index is
// compiled from the current sources (not the generated table, which may be stale); probe modules
// (TypeScript sources) are compiled on the fly with esbuild, as the build would compile them.
// Each file is read exactly as the core reads it: the index's head and tail windows.
import { constants, open } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import type { LoadedConfig } from '../config/config.js';
import { hasErrors } from '../diagnostics/diagnostic.js';
import { fileErrorReason } from '../file-error.js';
import { compileProbeIndex } from '../probe/compile.js';
import { PROBE_BUFFER_SIZE, probeWithIndex, type ProbeIndex, type ProbeModule, type ProbeResult } from '../runtime/probe.js';
import { probeModulePath, scan } from '../scanner/scan.js';
import { fromCwd, printDiagnostics } from './cli-diagnostics.js';
import type { CliIo } from './main.js';

/** One file's answer, as `--json` prints it. */
export interface ProbeReport extends ProbeResult {
  file: string;
  size: number;
  /** The byte ranges read from the file. */
  head: { offset: number; length: number };
  tail: { offset: number; length: number };
  /** How the index fills QEMU's probe buffer for a short file ('padded': zeros, as QEMU 7.1+). */
  buffer: ProbeIndex['buffer'];
  /** Driver chunks loaded to decide: always none, the point of the index. */
  driversLoaded: string[];
}

export async function runProbe(loaded: LoadedConfig, files: readonly string[], json: boolean, io: CliIo): Promise<number> {
  const scanned = await scan(loaded);
  if (hasErrors(scanned.diagnostics)) {
    // As the generate command reports them: the index would be built from broken sources.
    if (json) io.stdout.write(`${JSON.stringify({ ok: false, outcome: 'source-errors', diagnostics: scanned.diagnostics.map((d) => fromCwd(loaded, io.cwd, d)) }, null, 2)}\n`);
    else printDiagnostics(loaded, scanned, io);
    return 1;
  }
  const { index } = compileProbeIndex(scanned.drivers, probeModulePath, loaded.config.probe);
  const compiled = new Map<string, Promise<ProbeModule>>();
  const loadModule = (id: string): Promise<ProbeModule> => {
    let found = compiled.get(id);
    if (!found) {
      found = compileProbeModule(resolve(loaded.root, id), io.cwd);
      compiled.set(id, found);
    }
    return found;
  };
  let status = 0;
  const reports: ProbeReport[] = [];
  for (const file of files) {
    try {
      const report = await probeFile(index, resolve(io.cwd, file), file, loadModule);
      reports.push(report);
      if (!json) io.stdout.write(describe(report));
    } catch (error) {
      // A probe module that does not compile is the sources' problem, not the image's.
      const reason = error instanceof ProbeModuleError ? error.message : `${file}: ${error instanceof NotRegularFile ? error.message : fileErrorReason(error, 'cannot read')}`;
      io.stderr.write(`gen-modules: ${reason}\n`);
      status = 1;
    }
  }
  if (json) io.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  return status;
}

async function probeFile(index: ProbeIndex, path: string, file: string, loadModule: (id: string) => Promise<ProbeModule>): Promise<ProbeReport> {
  // Non-blocking: opening a FIFO for reading would otherwise wait for a writer (forever); the type
  // is checked on the open file, and regular files read as usual.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    // A directory said so, also one whose size is 0 (procfs), which would probe as an empty file.
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (!stat.isFile()) throw new NotRegularFile();
    const size = stat.size;
    const head = new Uint8Array(Math.min(size, index.headBytes));
    await readFully(handle, head, 0);
    const tail = new Uint8Array(Math.min(size, index.tailBytes));
    await readFully(handle, tail, size - tail.length);
    // QEMU passes the file name as given to the probes (dmg looks at its suffix).
    const result = await probeWithIndex(index, { head, tail, size, filename: file }, loadModule);
    return {
      file,
      size,
      ...result,
      head: { offset: 0, length: size === 0 ? 0 : head.length },
      tail: { offset: size - tail.length, length: size === 0 ? 0 : tail.length },
      buffer: index.buffer,
      driversLoaded: [],
    };
  } finally {
    await handle.close();
  }
}

/**
 * A device, FIFO or socket: stat gives no size to probe (/dev/zero would read as an empty file,
 * hence raw), so it is refused, as the example emulator refuses it.
 */
class NotRegularFile extends Error {
  constructor() {
    super('not a regular file');
  }
}

async function readFully(handle: Awaited<ReturnType<typeof open>>, into: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw Object.assign(new Error('the file shrank while reading'), { code: 'ESHRANK' });
    done += bytesRead;
  }
}

/** A probe module esbuild could not compile: its first error, at its place (relative to the working directory). */
class ProbeModuleError extends Error {}

async function compileProbeModule(path: string, cwd: string): Promise<ProbeModule> {
  const { build } = await import('esbuild');
  let code: string;
  try {
    const result = await build({ absWorkingDir: cwd, entryPoints: [path], bundle: true, write: false, format: 'esm', platform: 'neutral', logLevel: 'silent' });
    code = result.outputFiles[0]!.text;
  } catch (error) {
    const first = (error as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }).errors?.[0];
    if (!first) throw error;
    const where = first.location ? `${first.location.file}:${first.location.line}:${first.location.column + 1}` : relative(cwd, path) || path;
    throw new ProbeModuleError(`${where}: cannot compile probe module ${relative(cwd, path) || path}: ${first.text}`);
  }
  const mod = (await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`)) as { default: ProbeModule };
  return mod.default;
}

/** The human-readable explanation of one file. */
export function describe(report: ProbeReport): string {
  const lines = [`${report.file}: ${report.format} (score ${report.score})`];
  if (report.size === 0) {
    lines.push('  empty file: raw without probing (as QEMU)');
  } else {
    if (report.matched.length === 0) lines.push('  no signature matched: raw is the fallback (score 1)');
    const winner = report.matched.find((m) => m.driver === report.format && m.score === report.score);
    for (const m of report.matched) {
      const verdict = m === winner ? 'winner' : 'matched';
      lines.push(`  ${verdict} ${m.driver} (score ${m.score})${m.module ? ` via probe module ${m.module}` : ''}:`);
      for (const reason of m.because) lines.push(`    - ${reason}`);
    }
    const tail = report.tail.length > 0 ? `, tail ${report.tail.length} bytes at ${report.tail.offset}` : '';
    const padding = report.buffer === 'padded' && report.size < PROBE_BUFFER_SIZE ? ` (QEMU's ${PROBE_BUFFER_SIZE}-byte probe buffer is zero-filled past the end)` : '';
    lines.push(`  read ${report.bytesRead} bytes: head ${report.head.length} bytes at 0${tail}${padding}`);
  }
  lines.push(`  probe modules loaded: ${report.modulesLoaded.join(', ') || 'none'}`);
  lines.push(`  driver chunks loaded: ${report.driversLoaded.join(', ') || 'none'}`);
  return `${lines.join('\n')}\n`;
}
