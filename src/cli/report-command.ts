// gen-modules report [--out FILE] MANIFEST: writes the self-contained HTML report of a build.
import { readFileSync, statSync } from 'node:fs';
import { writeIfChanged } from '../codegen/write-file.js';
import { fileErrorReason } from '../file-error.js';
import { renderReport } from '../report/render-report.js';
import { ManifestError, parseManifest, type BuildManifest } from '../runtime/manifest.js';
import type { CliIo } from './main.js';

export async function runReport(manifestPath: string, out: string | undefined, io: CliIo): Promise<number> {
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (error) {
    io.stderr.write(`gen-modules: ${manifestPath}: cannot read the build manifest (${fileErrorReason(error)})\n`);
    return 2;
  }
  let manifest: BuildManifest;
  try {
    // The runtime's own check: what it would refuse to load, the report refuses to draw.
    manifest = parseManifest(text, manifestPath);
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    io.stderr.write(`gen-modules: not a gen-modules build manifest: ${error.message}\n`);
    return 2;
  }
  const target = out ?? manifestPath.replace(/\.json$/, '') + '.html';
  // `--out` naming the manifest itself (or `report m` of a manifest without .json) would replace it.
  if (sameFile(target, manifestPath)) {
    io.stderr.write(`gen-modules: ${target}: the report would overwrite the build manifest it is made from; give --out another file\n`);
    return 2;
  }
  writeIfChanged(target, renderReport(manifest));
  io.stdout.write(`${target}\n`);
  return 0;
}

/** Whether two paths name one file (by path, or as the same inode through a link). */
function sameFile(a: string, b: string): boolean {
  if (a === b) return true;
  const x = statSync(a, { throwIfNoEntry: false });
  const y = statSync(b, { throwIfNoEntry: false });
  return x !== undefined && y !== undefined && x.dev === y.dev && x.ino === y.ino;
}
