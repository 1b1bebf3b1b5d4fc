// The last clean scan of a config, kept on disk so that a run over unchanged sources neither
// parses nor even loads the compiler: a pre-commit `gen-modules --check` or a bundler plugin's
// build start then costs a directory listing and one stat() per input.
//
// Validity is decided from file metadata, as eslint's and Jest's caches do: the listing must be
// the same; every input (listed file, module a declaration led to, config, tsconfig, package.json)
// must have the same size, mtime, inode and ctime (the system sets the ctime on every write: a
// package reinstalled by npm, whose files all carry the mtime 1985, may get a freed inode back and
// keep the sizes); and every folder the scan looked in (to resolve an import, to find a package)
// must have the same mtime, so that a file created where a resolution would now find it
// invalidates the cache too. Only scans without any diagnostic are kept: a run with problems
// always reports them from a real scan. An input or folder that changed just before the scan (an
// edit saved as the build starts, `rm -rf dist && build`) has an mtime that cannot be trusted yet:
// it is kept to be compared again, by the hash of its text or by asking its paths.
//
// When only some driver files, or modules they import, changed (an edited driver: the usual case
// after a save), the rest of the scan still holds. A second file, read only then, keeps for each
// listed file whether it was a candidate and the inputs it read (its result is its drivers in the
// record's scan), and the answer then (real path, or absent) to every other path the scan asked
// about. If the listing and the config, tsconfig and package.json files are as they were, and
// every one of those paths answers as it did (a folder's mtime also changes when an editor saves
// by renaming, which alone proves nothing), the files whose inputs did not change keep their
// results and only the others are scanned again; when no input changed at all (an editor's
// swap file came or went), the whole record holds. An input whose stamp changed but whose text
// hashes as it did when the scan read it (touched, checked out again) counts as unchanged, and the
// record then takes its new stamp.
//
// The file lives in `node_modules/.cache/gen-modules/` (the usual place for tool caches) of the
// config's folder or the nearest folder above it that has node_modules (none when no folder has
// one), keyed by the config's path; its content is keyed by the config, the Node version and the
// scanner's own code. It is written atomically (write-file.ts). GEN_MODULES_CACHE=0 (or
// `gen-modules --no-cache`) turns it off. A cache that cannot be read or written is ignored: it can
// make a run faster, never fail it.
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { LoadedConfig } from '../config/config.js';
import { writeAtomic } from '../codegen/write-file.js';
import type { DriverInfo, RenderedTable } from '../model.js';
import type { ScanFileSystem } from './file-system.js';

/** What a clean scan produced, as generate needs it. */
export interface CachedScan {
  drivers: DriverInfo[];
  /** Listed files, config-relative. */
  files: string[];
  /** Every input, config-relative. */
  inputs: string[];
  candidates: number;
  /** The tsconfig files the scan's import paths came from, config-relative (a scan that parses nothing does not read them again). */
  tsconfigs?: string[];
  /** The tables rendered from `drivers` (same config, same drivers: the same text). */
  tables?: RenderedTable[];
  /** Some files were read by the literal reader: their syntax was not checked (scan.ts: ScanOptions.literalReader). */
  unchecked?: true;
}

/**
 * A listed file's part of a clean scan: whether the text pre-filter let it through, and the inputs
 * it read besides itself (absolute). Its drivers are the scan's drivers whose `file` it is, so the
 * per-file record holds no scan result of its own: after an edit, reading and writing 200 of them
 * was most of the cache's cost (a clean result is its drivers; a scan with diagnostics is never kept).
 */
export interface CachedFile {
  candidate: boolean;
  deps: string[];
  /** Read by the literal reader: the file's syntax was not checked. */
  unchecked?: true;
}

/** The hash of an input's text: an input touched without a change (same text, new stamp) still holds. */
export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

interface CacheRecord {
  key: string;
  /** Which details file belongs to this record. */
  details: string;
  /** Listed files, absolute. */
  listing: string[];
  /** Absolute path, size, mtime, inode and ctime of each input. */
  stamps: Stamp[];
  /** The hash of each input's text as the scan read it (textHash), by the index of its stamp; null: not known. */
  hashes?: (string | null)[];
  /** Absolute folder and its mtime (-1: did not exist). */
  folders: [string, number][];
  scan: CachedScan;
}

/** Kept beside the record, read only when the record alone cannot answer (its own file: a hit does not pay for it). */
interface CacheDetails {
  id: string;
  files: [string, CachedFile][];
  /** Every path the scan asked about that is not an input (inputs have stamps), and its real path then (null: absent). */
  answers: [string, string | null][];
}

export function scanCacheEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.GEN_MODULES_CACHE !== '0' && env.GEN_MODULES_CACHE !== 'false';
}

/**
 * The cache file of this config: in the node_modules folder beside it or, failing that, the
 * nearest one above it (a workspace package whose dependencies npm or yarn hoisted to the
 * workspace root has none of its own); undefined when there is none. The name is the config's
 * path, hashed, so configs sharing a folder keep apart.
 */
export function scanCacheFile(loaded: LoadedConfig): string | undefined {
  for (let dir = loaded.root; ; dir = dirname(dir)) {
    const modules = join(dir, 'node_modules');
    if (existsSync(modules)) {
      const id = createHash('sha256').update(loaded.file).digest('hex').slice(0, 16);
      return join(modules, '.cache', 'gen-modules', `scan-${id}.bin`);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The hash of the package's sources, set by scripts/build-package.mjs in the published bundle.
 * Its files say nothing themselves: npm installs every file with the same mtime (1985), and a
 * chunk's size can stay the same when the code it holds, or a chunk it names, changed.
 */
declare const __GEN_MODULES_CODE_ID__: string | undefined;

/** What made the cached content: a new version of the code never reads another's cache. */
export function codeId(): string {
  if (typeof __GEN_MODULES_CODE_ID__ === 'string') return __GEN_MODULES_CODE_ID__;
  // Run from the sources (tests, a checkout): the size and mtime of every source file, taken once
  // per process (the code that runs does not change under it).
  sourceCodeId ??= sourceStamp();
  return sourceCodeId;
}

let sourceCodeId: string | undefined;

/** The same set of files as scripts/build-package.mjs hashes: the .ts files under src/ and plugin/. */
function sourceStamp(): string {
  try {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const stamps = ['src', 'plugin'].flatMap((folder) =>
      readdirSync(join(root, folder), { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.ts'))
        .sort()
        .map((file) => {
          const s = statSync(join(root, folder, file));
          return `${folder}/${file}:${s.size}:${s.mtimeMs}`;
        }),
    );
    return createHash('sha256').update(stamps.join('\n')).digest('hex');
  } catch {
    return 'unknown';
  }
}

/** What the cached content must have been made from. */
function cacheKey(loaded: LoadedConfig): string {
  return createHash('sha256').update(JSON.stringify([3, loaded.file, loaded.config, process.version, codeId()])).digest('hex');
}

/** An input's path, size, mtime, inode and ctime. */
export type Stamp = [string, number, number, number, number];
/** Stamps of inputs by path (taken by readScanCache or when a file is read, for prepareScanCache). */
export type ScanCacheStamps = ReadonlyMap<string, Stamp>;
const stampOf = (path: string): Stamp | undefined => {
  const s = statSync(path, { throwIfNoEntry: false });
  return s ? [path, s.size, s.mtimeMs, s.ino, s.ctimeMs] : undefined;
};
const folderTime = (path: string): number => statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1;

/** What the cache can give a scan: the whole result, or the results of the files that did not change. */
export type ScanCacheRead =
  | { scan: CachedScan }
  | {
      /** Listed files whose result still holds. */
      reusable: Map<string, CachedFile>;
      /** The paths the kept scan asked about and their answers then (the next record must answer for them too). */
      answers: Map<string, string | null>;
      /** The kept scan (its tables serve again when the drivers come out the same). */
      previous: CachedScan;
      /**
       * The stamps just taken of the inputs that had not changed, by path: the next record can
       * take them instead of a second stat() each (what this scan reused was checked against them).
       */
      stamps: ScanCacheStamps;
      /** The text hashes the record kept, by path (for the inputs this scan does not read). */
      hashes: ReadonlyMap<string, string>;
    };

/**
 * The cached scan when the listing and every input and folder are as they were; else what of it
 * still holds. `acceptUnchecked`: the caller takes results whose syntax was not checked (a whole
 * scan with such files is otherwise only a partial answer: the caller reads them again).
 */
export function readScanCache(loaded: LoadedConfig, listing: readonly string[], acceptUnchecked = false): ScanCacheRead | undefined {
  const file = scanCacheFile(loaded);
  if (!file) return undefined;
  let record: CacheRecord;
  try {
    record = deserialize(readFileSync(file)) as CacheRecord;
  } catch {
    return undefined;
  }
  if (record?.key !== cacheKey(loaded) || !Array.isArray(record.listing) || record.listing.length !== listing.length) return undefined;
  for (let i = 0; i < listing.length; i++) if (record.listing[i] !== listing[i]) return undefined;
  const changed = new Set<string>();
  const same = new Map<string, Stamp>();
  const hashes = new Map<string, string>();
  let restamped = false;
  record.stamps.forEach(([path, size, mtime, ino, ctime], i) => {
    const hash = record.hashes?.[i];
    if (hash) hashes.set(path, hash);
    const now = stampOf(path);
    if (now && now[1] === size && now[2] === mtime && now[3] === ino && now[4] === ctime) same.set(path, now);
    // Touched without a change (git checkout of another branch and back, git stash pop): a new
    // stamp, the same text. The stamp was taken before the read, so it describes this text.
    else if (now && hash && now[1] === size && hashOfFile(path) === hash) {
      same.set(path, now);
      restamped = true;
    } else changed.add(path);
  });
  const foldersSame = record.folders.every(([path, mtime]) => folderTime(path) === mtime);
  const whole = acceptUnchecked || !record.scan.unchecked;
  if (changed.size === 0 && foldersSame && whole) {
    if (restamped) refreshRecord(file, record, same);
    return { scan: record.scan };
  }
  const partial = reusableFiles(file, record, new Set(listing), changed, foldersSame, same, hashes);
  // No input changed and every path answers as it did: only a folder's mtime moved (an editor's
  // swap or lock file came or went beside a driver). The whole scan holds, and the compiler need
  // not even be loaded (60-130 ms of a fresh process here).
  if (partial && changed.size === 0 && whole) {
    refreshRecord(file, record, same);
    return { scan: record.scan };
  }
  return partial;
}

/** The hash of a file's text (textHash), or undefined when it cannot be read. */
function hashOfFile(path: string): string | undefined {
  try {
    return textHash(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Rewrites the record with the inputs' new stamps (`stamps`: every input, its text unchanged) and
 * its folders' current mtimes, so the next run answers from the stamps alone; only when all have
 * settled (see SETTLE_MS).
 */
function refreshRecord(file: string, record: CacheRecord, stamps: ScanCacheStamps): void {
  const settled = Date.now() - SETTLE_MS;
  const folders: CacheRecord['folders'] = record.folders.map(([path]) => [path, folderTime(path)]);
  const fresh: CacheRecord['stamps'] = record.stamps.map(([path]) => stamps.get(path)!);
  if (folders.some(([, mtime]) => mtime >= settled) || fresh.some((stamp) => stamp[2] >= settled)) return;
  try {
    writeAtomic(file, serialize({ ...record, stamps: fresh, folders }), { durable: false });
  } catch {
    // Not writable: the next run compares again.
  }
}

function reusableFiles(
  file: string,
  record: CacheRecord,
  listing: ReadonlySet<string>,
  changed: ReadonlySet<string>,
  foldersSame: boolean,
  stamps: ScanCacheStamps,
  hashes: ReadonlyMap<string, string>,
): ScanCacheRead | undefined {
  let details: CacheDetails;
  try {
    details = deserialize(readFileSync(detailsFile(file))) as CacheDetails;
  } catch {
    return undefined;
  }
  if (details?.id !== record.details || !Array.isArray(details.files) || !Array.isArray(details.answers)) return undefined;
  const files = new Map(details.files);
  const deps = new Set(details.files.flatMap(([, f]) => f.deps));
  // The config, tsconfig or a package.json: everything may differ.
  for (const path of changed) if (!listing.has(path) && !deps.has(path)) return undefined;
  // Something was created, removed or re-linked where the scan looked: resolutions may differ.
  if (!foldersSame) for (const [path, real] of details.answers) if (realPathOrNull(path) !== real) return undefined;
  const reusable = new Map<string, CachedFile>();
  for (const path of listing) {
    const kept = files.get(path);
    if (kept && !changed.has(path) && !kept.deps.some((dep) => changed.has(dep))) reusable.set(path, kept);
  }
  return { reusable, answers: new Map(details.answers), previous: record.scan, stamps, hashes };
}

const detailsFile = (file: string) => file.replace(/\.bin$/, '.files.bin');

function realPathOrNull(path: string): string | null {
  try {
    return realpathSync.native(path);
  } catch {
    return null;
  }
}

/**
 * A file or folder changed this recently may have changed while the scan read it, after it was
 * read, without its mtime telling (file systems with coarse timestamps): its mtime is not trusted then.
 */
const SETTLE_MS = 2000;

/**
 * What a scan saw, for the record: every path its file system was asked about, the stamp and the
 * text hash of each file it read, and its answers to the other paths (`isFile`, `realpath`, and
 * the kept scan's answers for what it took from the cache).
 */
export interface ScanSeen {
  asked: Iterable<string>;
  stamps: ScanCacheStamps;
  hashes: ReadonlyMap<string, string>;
  isFile: ReadonlyMap<string, boolean>;
  realpath: ReadonlyMap<string, string>;
  previous: ReadonlyMap<string, string | null>;
}

/**
 * Keeps a clean scan that started at `startedMs` (Date.now()). `files`: each listed file's part.
 * An input's stamp is the one in `seen.stamps` (taken just before the scan read it, or, for an
 * input whose result came from the cache, the stamp the cache was checked against), else taken
 * now: if the input changed since, the record holds the older stamp and the next run scans it
 * again. Returns a function that writes the files (at once, or later: serializing and writing is
 * most of the cost, and the stamps must be taken before the caller writes its tables, whose
 * folder's mtime would change), or undefined when the scan cannot be kept.
 *
 * A file or folder that changed within SETTLE_MS of the scan's start may have changed again while
 * the scan read it, without its mtime telling. Such an input is kept with an mtime that never
 * matches, so the next run compares its text with the hash of what the scan read; without a hash
 * the scan is not kept. Such a folder is kept the same way, so the next run asks every path again;
 * its paths' answers now must agree with what the scan was told, or the scan is not kept. A build
 * that starts with `rm -rf dist` changes the project folder each time: its scans are still kept.
 */
export function prepareScanCache(
  loaded: LoadedConfig,
  listing: readonly string[],
  scan: CachedScan,
  files: ReadonlyMap<string, CachedFile>,
  seen: ScanSeen,
  startedMs: number,
): (() => void) | undefined {
  const file = scanCacheFile(loaded);
  if (!file) return undefined;
  const settled = startedMs - SETTLE_MS;
  try {
    const stamps: CacheRecord['stamps'] = [];
    const folders = new Set<string>();
    const stamped = new Set<string>();
    for (const input of scan.inputs) {
      const path = resolve(loaded.root, input);
      const stamp = seen.stamps.get(path) ?? stampOf(path);
      if (!stamp) return undefined;
      if (stamp[2] >= settled) {
        if (!seen.hashes.has(path)) return undefined;
        stamps.push([path, stamp[1], UNSETTLED, stamp[3], stamp[4]]);
      } else stamps.push(stamp);
      stamped.add(path);
      folders.add(dirname(path));
    }
    const asked = [...seen.asked].sort();
    for (const path of asked) folders.add(dirname(path));
    const folderTimes: CacheRecord['folders'] = [...folders].sort().map((f) => [f, folderTime(f)]);
    const unsettled = new Set(folderTimes.filter(([, mtime]) => mtime >= settled).map(([folder]) => folder));
    // In a settled folder every answer now is the answer the scan got. An input needs none: its
    // stamp (size, mtime, inode and ctime of what the path leads to) is checked anyway.
    const answers: CacheDetails['answers'] = [];
    for (const path of asked) {
      if (stamped.has(path)) continue;
      const now = realPathOrNull(path);
      if (unsettled.has(dirname(path)) && !agrees(path, now, seen)) return undefined;
      answers.push([path, now]);
    }
    // A fresh id ties the record to its details: should a run die between the two writes, the
    // old record no longer matches the new details and serves only as a whole.
    const details: CacheDetails = { id: randomUUID(), files: [...files], answers };
    const record: CacheRecord = {
      key: cacheKey(loaded),
      details: details.id,
      listing: [...listing],
      stamps,
      hashes: stamps.map(([path]) => seen.hashes.get(path) ?? null),
      folders: folderTimes.map(([folder, mtime]) => [folder, unsettled.has(folder) ? UNSETTLED : mtime]),
      scan,
    };
    return () => {
      try {
        // The details first: a record never names details that are not there yet.
        writeAtomic(detailsFile(file), serialize(details), { durable: false });
        writeAtomic(file, serialize(record), { durable: false });
      } catch {
        // Not writable: the next run scans again.
      }
    };
  } catch {
    return undefined;
  }
}

/** An mtime no stamp has: the next run compares the input's text, or asks the folder's paths again. */
const UNSETTLED = Number.NaN;

/** Whether `now` (the path's real path, null: absent) agrees with every answer the scan got about `path`. */
function agrees(path: string, now: string | null, seen: ScanSeen): boolean {
  const previous = seen.previous.get(path);
  if (previous !== undefined && previous !== now) return false;
  // The scan's realpath answers the path itself when there is nothing to resolve.
  const real = seen.realpath.get(path);
  if (real !== undefined && real !== (now ?? path)) return false;
  const isFile = seen.isFile.get(path);
  return isFile === undefined || isFile === (now !== null && statSync(now, { throwIfNoEntry: false })?.isFile() === true);
}

/** What a scan's file system is asked and answers, for the record (ScanSeen). */
export interface ScanRecording {
  asked: Set<string>;
  /** Each file's stamp taken just before its last read. */
  readStamps: Map<string, Stamp>;
  /** The hash of each file's text at its last read. */
  readHashes: Map<string, string>;
  isFile: Map<string, boolean>;
  realpath: Map<string, string>;
}

export function scanRecording(): ScanRecording {
  return { asked: new Set(), readStamps: new Map(), readHashes: new Map(), isFile: new Map(), realpath: new Map() };
}

/**
 * A file system that remembers every path it was asked about (for the cache's folder list), its
 * answers, and the stamp of each file just before it read it: the record then describes the text
 * the scan read, and a change made after the read, even one dated in the past, makes the next run
 * scan the file again.
 */
export function recordingFileSystem(base: ScanFileSystem, seen: ScanRecording): ScanFileSystem {
  return {
    readText(path) {
      seen.asked.add(path);
      const stamp = stampOf(path);
      if (stamp) seen.readStamps.set(path, stamp);
      let text: string;
      try {
        text = base.readText(path);
      } catch (error) {
        seen.isFile.set(path, false);
        throw error;
      }
      // What the scan read, for a later run to recognise the file touched without a change.
      seen.readHashes.set(path, textHash(text));
      return text;
    },
    isFile(path) {
      seen.asked.add(path);
      const answer = base.isFile(path);
      seen.isFile.set(path, answer);
      return answer;
    },
    realpath(path) {
      seen.asked.add(path);
      const answer = base.realpath(path);
      seen.realpath.set(path, answer);
      return answer;
    },
    ...(base.forget ? { forget: (paths?: Iterable<string>) => base.forget!(paths) } : {}),
  };
}
