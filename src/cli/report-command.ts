// gen-modules report [--out FILE] MANIFEST: writes the self-contained HTML report of a build.
import { readFileSync } from 'node:fs';
import { writeIfChanged } from '../codegen/write-file.js';
import { renderReport, type ReportManifest } from '../report/render-report.js';
import type { CliIo } from './main.js';

export async function runReport(manifestPath: string, out: string | undefined, io: CliIo): Promise<number> {
  let manifest: ReportManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ReportManifest;
  } catch (error) {
    io.stderr.write(`gen-modules: ${manifestPath}: cannot read the build manifest (${(error as Error).message})\n`);
    return 2;
  }
  if (!manifest || typeof manifest !== 'object' || typeof manifest.drivers !== 'object' || typeof manifest.chunks !== 'object') {
    io.stderr.write(`gen-modules: ${manifestPath}: not a gen-modules build manifest (no drivers/chunks)\n`);
    return 2;
  }
  const target = out ?? manifestPath.replace(/\.json$/, '') + '.html';
  writeIfChanged(target, renderReport(manifest));
  io.stdout.write(`${target}\n`);
  return 0;
}
