// Deciding an image's format from its bytes with the compiled probe index, with QEMU's semantics
// and without loading any driver. Browser-safe (no node:*) and total: no input bytes make it throw.
//
// The rules (the reference interpreter in src/probe/reference.ts states them as a plain loop):
// - An empty file (size 0, or a size that is not a positive number) is raw; nothing is probed.
// - Tests at offsets >= 0 see QEMU's probe buffer, at most its first 512 bytes. How a file
//   shorter than that fills it is the index's `buffer` mode: 'padded' (the default, QEMU 7.1 and
//   later, including the 7.2 we compare with: find_image_format() reads 512 bytes, zeros past
//   the end of the file, and passes buf_size 512, so `minLength` up to 512 always holds and a
//   cloop prefix is compared in full) or 'exact' (QEMU up to 7.0: buf_size is the number of
//   bytes the file has, so `minLength` and prefixes see only those). Negative offsets, `suffix`
//   and tails are not QEMU's and see the file's real tail, never padding.
// - Signatures are evaluated in one total order, the index's: the format drivers the config's
//   `probe.order` lists first, in its order, then the others by name in code-unit order (plain
//   `<` on UTF-16 code units, so 'Z' < 'a' and 'qcow' < 'qcow2'); each driver's probes in
//   declaration order. This order plays the part of QEMU's driver registration order.
// - A signature matches when all its tests hold; with a probe module, when its guard (the tests)
//   holds and the module then answers a score above 0 (clamped to the declared score; an answer
//   that is not a finite number, or a module that throws, counts as 0). Like a QEMU probe, a
//   module sees the probe buffer (the first 512 bytes or fewer), the file size and name; its
//   `tail` is empty, so its answer does not depend on what other drivers' signatures need.
// - The winner starts as raw with score 1. A matching signature replaces it only with a strictly
//   higher score, so ties go to the earlier signature in the order above, and a driver that
//   declares score 1 never beats raw.
// - A definite match (score 100) ends the evaluation: nothing after it can score higher.
// - `matched` lists every signature that matched, in the order above, up to and including the
//   first definite match. Signatures after that one are not evaluated (no module is loaded for
//   them) and are not listed. A module-guarded signature before it is consulted whenever its
//   guard holds, even if its score could not win, so that the list is complete.
//
// The compiled index finds the candidates without walking every signature: each signature is
// filed under one discriminating test (the bytes at an offset: a 1-, 2- or 4-byte key, or a file
// name suffix), so one lookup per dispatch group yields the few signatures whose key matches;
// signatures with no such test are always candidates. Candidates are then evaluated in the total
// order, which gives exactly the reference result, since a non-candidate cannot match.
import type { ProbeData, ProbeTest } from '../model.js';
import { prepareIndex, prepareTest, readKey, type PreparedSignature, type ProbeView } from './probe-prepare.js';
import { reasonModule } from './probe-reasons.js';

/** The highest score any probe can return. */
export const DEFINITE_SCORE = 100;
/** Raw's score: it wins only when nothing else scores. */
export const RAW_SCORE = 1;
/** QEMU's BLOCK_PROBE_BUF_SIZE. */
export const PROBE_BUFFER_SIZE = 512;

/** One signature in the index: one declared probe of one driver. */
export interface IndexedProbe {
  driver: string;
  score: number;
  /** The largest top-level `minLength` test (0 when none): checked first. */
  minLength: number;
  /** The declared tests, in declared order (explanations follow this order). */
  tests: readonly ProbeTest[];
  /** Indexes into `tests` in evaluation order: cheap and selective first, `minLength` left out. */
  check: readonly number[];
  /** Id of a probe module in the table's `probeModules`; its default export decides the score. */
  module?: string;
}

/** Signatures filed by the `width` bytes at offset `at` (negative: from the end of the file). */
export interface DispatchGroup {
  at: number;
  width: 1 | 2 | 4;
  /** [key as `width * 2` lowercase hex digits, signature ids in ascending order], sorted by key. */
  keys: readonly (readonly [string, readonly number[]])[];
  /** Signatures that may still match when the data does not hold these bytes (prefix tests). */
  short: readonly number[];
}

/** Signatures filed by the last `length` code units of the file name (the name must be longer). */
export interface SuffixGroup {
  length: number;
  keys: readonly (readonly [string, readonly number[]])[];
}

/**
 * How a file shorter than the probe buffer fills it: 'padded' as QEMU 7.1+ (zeros past the end,
 * buf_size 512), 'exact' as QEMU up to 7.0 (only the file's bytes, buf_size = their count).
 */
export type ProbeBufferMode = 'padded' | 'exact';

/** What the generator emits into the table: plain JSON data. */
export interface ProbeIndex {
  version: 2;
  buffer: ProbeBufferMode;
  /** Bytes needed from the start of the file (at most QEMU's 512-byte probe buffer). */
  headBytes: number;
  /** Bytes needed from the end of the file (for negative offsets). */
  tailBytes: number;
  /** Every signature, in evaluation order; ids below are positions in this list. */
  signatures: readonly IndexedProbe[];
  dispatch: readonly DispatchGroup[];
  suffixes: readonly SuffixGroup[];
  /** Signatures without a discriminating test: candidates for every image. */
  always: readonly number[];
}

export interface ProbeMatch {
  driver: string;
  score: number;
  /** Why it matched: one line per declared test, e.g. `u32be at 0x4 = 0x3 (>= 0x2)`. */
  because: string[];
  /** The probe module consulted, if any. */
  module?: string;
}

export interface ProbeResult {
  format: string;
  score: number;
  /** Every signature that matched, in evaluation order, up to the first definite match. */
  matched: ProbeMatch[];
  /** Bytes of the file the probe needed: head plus tail, as the index asks, counted once where they overlap (0 for an empty file). */
  bytesRead: number;
  /** Probe modules loaded to decide, in load order. */
  modulesLoaded: string[];
}

export type ProbeModule = (data: ProbeData) => number;
export type ProbeModuleLoader = (id: string) => Promise<ProbeModule>;

const NO_BYTES = new Uint8Array(0);

/** The size used by the probe: a positive number, else 0 (treated as an empty file). */
export function probeSize(size: unknown): number {
  return typeof size === 'number' && size > 0 ? size : 0;
}

/** What the probe sees of `data`: QEMU's probe buffer from the head (see ProbeBufferMode). */
export function probeView(data: ProbeData, buffer: ProbeBufferMode = 'exact'): ProbeView {
  let head = data.head.length > PROBE_BUFFER_SIZE ? data.head.subarray(0, PROBE_BUFFER_SIZE) : data.head;
  if (buffer === 'padded' && head.length < PROBE_BUFFER_SIZE) {
    const padded = new Uint8Array(PROBE_BUFFER_SIZE);
    padded.set(head);
    head = padded;
  }
  const size = probeSize(data.size);
  const bufferSize = buffer === 'padded' ? PROBE_BUFFER_SIZE : Math.min(size, PROBE_BUFFER_SIZE);
  return { head, tail: data.tail, size, filename: typeof data.filename === 'string' ? data.filename : '', bufferSize };
}

/** Probe data for an image held in memory: exactly the head and tail windows the index needs. */
export function probeDataFromBytes(index: Pick<ProbeIndex, 'headBytes' | 'tailBytes'>, bytes: Uint8Array, filename: string): ProbeData {
  const tail = Math.min(bytes.length, index.tailBytes);
  return {
    head: bytes.subarray(0, Math.min(bytes.length, index.headBytes)),
    tail: bytes.subarray(bytes.length - tail),
    size: bytes.length,
    filename,
  };
}

/**
 * Evaluate a compiled index on an image's bytes. `data.head` and `data.tail` hold at least the
 * index's `headBytes` and `tailBytes` (or the whole file when it is shorter). A probe module that
 * fails to load rejects the promise (a broken build, not a property of the image).
 */
export async function probeWithIndex(index: ProbeIndex, data: ProbeData, loadModule: ProbeModuleLoader): Promise<ProbeResult> {
  const result: ProbeResult = { format: 'raw', score: RAW_SCORE, matched: [], bytesRead: 0, modulesLoaded: [] };
  // QEMU: an empty image is raw without asking any driver.
  if (probeSize(data.size) === 0) return result;
  const prepared = prepareIndex(index);
  const view = probeView(data, index.buffer);
  // The head and tail windows overlap in a file shorter than both together.
  result.bytesRead = Math.min(Math.min(data.head.length, PROBE_BUFFER_SIZE, index.headBytes) + Math.min(data.tail.length, index.tailBytes), view.size);
  for (const id of candidates(prepared, view)) {
    const signature = prepared.signatures[id]!;
    if (!holds(signature, view)) continue;
    let score = signature.score;
    if (signature.module !== undefined) {
      const decide = await loadModule(signature.module);
      result.modulesLoaded.push(signature.module);
      score = moduleScore(decide, { head: view.head, tail: NO_BYTES, size: view.size, filename: view.filename }, signature.score);
      if (score === 0) continue;
    }
    const because = signature.declared.map((t) => t.reason(view));
    if (signature.module !== undefined) because.push(reasonModule(signature.module, score));
    result.matched.push({ driver: signature.driver, score, because, ...(signature.module !== undefined ? { module: signature.module } : {}) });
    if (score > result.score) {
      result.format = signature.driver;
      result.score = score;
    }
    if (score >= DEFINITE_SCORE) break;
  }
  return result;
}

/** A module's answer as a score: an integer from 0 to the declared score. */
export function moduleScore(decide: ProbeModule, data: ProbeData, declared: number): number {
  let answer: number;
  try {
    answer = Number(decide(data));
  } catch {
    return 0;
  }
  return Number.isFinite(answer) ? Math.min(declared, Math.max(0, Math.trunc(answer))) : 0;
}

function holds(signature: PreparedSignature, view: ProbeView): boolean {
  if (view.head.length < signature.minLength) return false;
  const checks = signature.checks;
  for (let i = 0; i < checks.length; i++) if (!checks[i]!.holds(view)) return false;
  return true;
}

/** Ids of the signatures that can match, ascending: one lookup per dispatch group. */
function candidates(prepared: ReturnType<typeof prepareIndex>, view: ProbeView): readonly number[] {
  let found: number[] | undefined;
  let lists = 0;
  const add = (ids: readonly number[] | undefined) => {
    if (ids === undefined || ids.length === 0) return;
    lists++;
    found = found === undefined ? ids.slice() : found.concat(ids);
  };
  for (const group of prepared.groups) {
    const key = readKey(view, group.at, group.width);
    add(key < 0 ? group.short : group.keys.get(key));
  }
  const name = view.filename;
  for (const group of prepared.suffixes) {
    if (name.length > group.length) add(group.keys.get(name.slice(name.length - group.length)));
  }
  add(prepared.always);
  if (found === undefined) return [];
  // Each signature sits in exactly one group under distinct keys, so there are no duplicates.
  return lists > 1 ? found.sort((a, b) => a - b) : found;
}

/**
 * One declared test on probe data, outside any index (drivers' tests check their declarations
 * with it). Pushes the reason when the test holds. Never throws, whatever the bytes.
 */
export function evaluateTest(test: ProbeTest, data: ProbeData, because: string[]): boolean {
  const view = probeView(data);
  const prepared = prepareTest(test);
  if (!prepared.holds(view)) return false;
  because.push(prepared.reason(view));
  return true;
}
