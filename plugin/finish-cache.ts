// The finish cache: the final size and SRI value of each lazy chunk of the last build into an
// output folder, and that build's id, so that the next build with the same id (sources unchanged,
// or changed in ways the output does not show) takes them instead of hashing every chunk again
// (build-manifest.ts: finishChunks). Kept beside the scan cache, in node_modules/.cache/gen-modules/
// (scan-cache.ts), one file per bundler and manifest path; its content is keyed by the plugins'
// own code, so a version that writes the build id differently never reads another's values.
// Not the manifest itself: that is the application's output, which other tools (or a hand) may
// change, and it is not a cache. GEN_MODULES_CACHE=0 turns it off with the scan cache. A cache
// that cannot be read or written is ignored: it can make a build faster, never fail it.
//
// A process that builds into the same folder again (a watch, a dev server, an esbuild context)
// also keeps, in memory, each lazy chunk's SHA-384 state before its build id statement
// (build-manifest.ts: ChunkState): a chunk whose name and size did not change is then finished
// under a new build id without being read or hashed. Only the last build's, per folder, for the
// few folders built into last.
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { LoadedConfig } from '../src/config/config.js';
import { readIfExists, writeAtomic } from '../src/codegen/write-file.js';
import { isRecord } from '../src/runtime/manifest.js';
import { codeId, scanCacheEnabled, scanCacheFile } from '../src/scanner/scan-cache.js';
import { finishChunks, rememberable, type ChunkState, type ChunkToFinish, type FinishedChunk, type PreviousBuild } from './build-manifest.js';
import type { ChunkFiles } from './output-store.js';
import type { BundlerName } from './shared.js';

export interface FinishCache {
  /**
   * finishChunks with what the last build into this folder recorded and this process kept of it;
   * records this build's lazy chunks for the next (the file written only when they are not what
   * it holds).
   */
  finish(store: ChunkFiles, chunks: readonly ChunkToFinish[]): { buildId: string; finished: Map<string, FinishedChunk> };
}

/** No cache: every chunk read and hashed (GEN_MODULES_CACHE=0, or outputs only in memory). */
export const NO_FINISH_CACHE: FinishCache = { finish: (store, chunks) => finishChunks(store, chunks) };

/**
 * This process's chunk states of the last build per output folder (the record's id), for the
 * folders built into most recently: a process that builds into ever new folders (a test runner)
 * does not keep them all.
 */
const kept = new Map<string, ReadonlyMap<string, ChunkState>>();
const KEPT_FOLDERS = 8;

const SRI_SHA384 = /^sha384-[A-Za-z0-9+/]{64}$/;

/** The finish cache of the build that writes its manifest to `manifestPath`. */
export function finishCache(loaded: LoadedConfig, bundler: BundlerName, manifestPath: string): FinishCache {
  if (!scanCacheEnabled()) return NO_FINISH_CACHE;
  const id = createHash('sha256').update(`${bundler}\0${manifestPath}`).digest('hex').slice(0, 16);
  const scanFile = scanCacheFile(loaded);
  const file = scanFile === undefined ? undefined : join(dirname(scanFile), `finish-${id}.json`);
  const key = createHash('sha256').update(JSON.stringify([1, bundler, manifestPath, codeId()])).digest('hex');
  return {
    finish(store, chunks) {
      const stored = file === undefined ? undefined : readRecord(file, key);
      const { buildId, finished, states } = finishChunks(store, chunks, stored, kept.get(id));
      kept.delete(id);
      kept.set(id, states);
      if (kept.size > KEPT_FOLDERS) kept.delete(kept.keys().next().value!);
      if (file !== undefined) writeRecord(file, key, stored, buildId, rememberable(chunks, finished));
      return { buildId, finished };
    },
  };
}

/** Writes the record, unless it already holds exactly these values. */
function writeRecord(file: string, key: string, stored: PreviousBuild | undefined, buildId: string, chunks: readonly (readonly [string, FinishedChunk])[]): void {
  const same =
    buildId === stored?.buildId &&
    chunks.length === stored.chunks.size &&
    chunks.every(([chunk, { bytes, integrity }]) => {
      const known = stored.chunks.get(chunk);
      return known?.bytes === bytes && known.integrity === integrity;
    });
  if (same) return;
  const record: Record<string, [number, string]> = {};
  for (const [chunk, { bytes, integrity }] of chunks) record[chunk] = [bytes, integrity];
  try {
    writeAtomic(file, JSON.stringify({ key, buildId, chunks: record }), { durable: false });
  } catch {
    // A cache that cannot be written only makes the next build slower.
  }
}

function readRecord(file: string, key: string): PreviousBuild | undefined {
  const text = readIfExists(file);
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value) || value.key !== key || typeof value.buildId !== 'string' || !isRecord(value.chunks)) return undefined;
  const chunks = new Map<string, FinishedChunk>();
  for (const [chunk, entry] of Object.entries(value.chunks)) {
    if (!Array.isArray(entry) || !Number.isSafeInteger(entry[0]) || typeof entry[1] !== 'string' || !SRI_SHA384.test(entry[1])) return undefined;
    chunks.set(chunk, { bytes: entry[0] as number, integrity: entry[1] });
  }
  return { buildId: value.buildId, chunks };
}
