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
import type { ChunkState, FinishedChunk, PreviousBuild } from './build-manifest.js';
import type { BundlerName } from './shared.js';

export interface FinishCache {
  /** The last build into this output folder, if one was recorded by this code. */
  readonly previous: PreviousBuild | undefined;
  /** The chunk states this process kept of the last build it finished into this folder. */
  readonly states: ReadonlyMap<string, ChunkState> | undefined;
  /** Records this build's lazy chunks (written only when they are not what the record holds) and keeps their states. */
  remember(buildId: string, chunks: Iterable<readonly [string, FinishedChunk]>, states: ReadonlyMap<string, ChunkState>): void;
}

const NO_CACHE: FinishCache = { previous: undefined, states: undefined, remember: () => {} };

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
  if (!scanCacheEnabled()) return NO_CACHE;
  const id = createHash('sha256').update(`${bundler}\0${manifestPath}`).digest('hex').slice(0, 16);
  const scanFile = scanCacheFile(loaded);
  const file = scanFile === undefined ? undefined : join(dirname(scanFile), `finish-${id}.json`);
  const key = createHash('sha256').update(JSON.stringify([1, bundler, manifestPath, codeId()])).digest('hex');
  const stored = file === undefined ? undefined : readRecord(file, key);
  return {
    previous: stored,
    states: kept.get(id),
    remember(buildId, chunks, states) {
      kept.delete(id);
      kept.set(id, states);
      if (kept.size > KEPT_FOLDERS) kept.delete(kept.keys().next().value!);
      if (file === undefined) return;
      const record: Record<string, [number, string]> = {};
      let same = buildId === stored?.buildId;
      let count = 0;
      for (const [chunk, { bytes, integrity }] of chunks) {
        record[chunk] = [bytes, integrity];
        const known = stored?.chunks.get(chunk);
        same &&= known?.bytes === bytes && known.integrity === integrity;
        count++;
      }
      if (same && count === stored!.chunks.size) return;
      try {
        writeAtomic(file, JSON.stringify({ key, buildId, chunks: record }), { durable: false });
      } catch {
        // A cache that cannot be written only makes the next build slower.
      }
    },
  };
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
