// npm run bench:probe: how fast the compiled probe index decides an image's format with 200
// synthetic drivers, against the reference loop (every declared signature, in order) and the
// eager QEMU model (every driver module imported, every probe function run), and how many chunks
// each loads before deciding. Writes bench/results/probe.json and prints a markdown table.
//
// The drivers are seeded and realistic: magics at offset 0 and elsewhere with version fields and
// QEMU-style minimum lengths, alternatives, C strings, weak cloop-style prefixes, file-name
// suffixes, trailers at the end of the file, and a few text formats decided by probe modules
// behind a guard. Inputs: images of those formats, near misses (a flipped version, a shifted
// magic), random data, zeros and text, of sizes from 0 to 64 KiB.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ProbeData, ProbeTest } from '../src/model.js';
import { compileProbeIndex, type ProbeDriver } from '../src/probe/compile.js';
import { referenceProbe } from '../src/probe/reference.js';
import { validateProbes } from '../src/probe/validate.js';
import { PROBE_BUFFER_SIZE, probeDataFromBytes, probeWithIndex, type ProbeIndex, type ProbeModule } from '../src/runtime/probe.js';
import { prng } from '../test/support/bytes.js';

const DRIVERS = 200;
const INPUTS = 600;
const REPS = 20;
/** The reference loop is ~100x slower; fewer repetitions still time it well above timer resolution. */
const REFERENCE_REPS = 4;
const ROUNDS = 3;

const r = prng(2015);
const int = (n: number) => Math.floor(r() * n);
const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
const letters = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x41 + int(26))).join('');
const magic = (n: number) => Array.from({ length: n }, () => String.fromCharCode(int(256))).join('');

// ---------------------------------------------------------------------------------------------
// 200 synthetic drivers, each with a plain-JS probe for the eager model.
// ---------------------------------------------------------------------------------------------

interface Synthetic extends ProbeDriver {
  /** Body of `probe(buf, bufSize, filename, tail, size)` for the eager model. */
  js: string;
  /** Bytes to write into an image of this format: [offset (negative: from the end), bytes]. */
  plant: [number, number[]][];
  /** The text a module-decided format starts with. */
  text?: string;
  suffix?: string;
}

const bytesOf = (s: string) => Array.from(s, (c) => c.charCodeAt(0));
const jsBytes = (at: number, s: string, where = 'buf') =>
  bytesOf(s)
    .map((b, i) => (at >= 0 ? `${where}[${at + i}] === ${b}` : `${where}[${where}.length - ${-at - i}] === ${b}`))
    .join(' && ');
const jsU32 = (at: number, le: boolean) =>
  le ? `((buf[${at}] | buf[${at + 1}] << 8 | buf[${at + 2}] << 16 | buf[${at + 3}] << 24) >>> 0)` : `((buf[${at}] << 24 | buf[${at + 1}] << 16 | buf[${at + 2}] << 8 | buf[${at + 3}]) >>> 0)`;
const u32Bytes = (v: number, le: boolean) => {
  const b = [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  return le ? b.reverse() : b;
};

function synthesize(i: number): Synthetic {
  const name = `fmt${String(i).padStart(3, '0')}${letters(2).toLowerCase()}`;
  const kind = r();
  if (kind < 0.5) {
    // A magic at 0 and a version field, QEMU-style minimum length (qcow2, qed, luks, vhdx...).
    const m = magic(pick([4, 4, 4, 6, 8]));
    const at = pick([4, 6, 8, 12, 16]);
    const le = r() < 0.5;
    const min = 1 + int(3);
    const length = pick([16, 48, 64, 104, 512]);
    const match: ProbeTest[] = [{ minLength: length }, { at: 0, bytes: m }, { at: Math.max(at, m.length), [le ? 'u32le' : 'u32be']: { min, max: min + 3 } } as ProbeTest];
    const vAt = Math.max(at, m.length);
    return {
      name,
      probes: [{ score: 100, match }],
      js: `return ${jsBytes(0, m)} && ${jsU32(vAt, le)} >= ${min} && ${jsU32(vAt, le)} <= ${min + 3} ? 100 : 0;`,
      plant: [[0, bytesOf(m)], [vAt, u32Bytes(min + 1, le)]],
    };
  }
  if (kind < 0.65) {
    // A signature away from offset 0 (vdi at 0x40, an MBR-like word at 0x1fe...).
    const at = pick([0x40, 0x40, 0x80, 0x100, 0x1f8, 32, 8]);
    const value = 1 + int(0xfffffffe);
    const le = r() < 0.5;
    return {
      name,
      probes: [{ score: 100, match: [{ minLength: 512 }, { at, [le ? 'u32le' : 'u32be']: value } as ProbeTest] }],
      js: `return ${jsU32(at, le)} === ${value} ? 100 : 0;`,
      plant: [[at, u32Bytes(value, le)]],
    };
  }
  if (kind < 0.75) {
    // Two magics (vmdk's KDMV/COWD, parallels' two signatures) and a version.
    const a = magic(4);
    const b = magic(4);
    return {
      name,
      probes: [{ score: 100, match: [{ minLength: 64 }, { any: [{ at: 0, bytes: a }, { at: 0, bytes: b }] }, { at: 16, u32le: 2 }] }],
      js: `return (${jsBytes(0, a)} || ${jsBytes(0, b)}) && ${jsU32(16, true)} === 2 ? 100 : 0;`,
      plant: [[0, bytesOf(r() < 0.5 ? a : b)], [16, [2, 0, 0, 0]]],
    };
  }
  if (kind < 0.82) {
    // C strings (bochs) and a set of versions.
    const s1 = `${letters(6)} Virtual Disk`;
    const s2 = letters(7);
    return {
      name,
      probes: [{ score: 100, match: [{ minLength: 512 }, { at: 0, cstring: s1 }, { at: 32, cstring: s2 }, { at: 64, u32le: { in: [0x10000, 0x20000] } }] }],
      js: `const v = ${jsU32(64, true)}; return ${jsBytes(0, `${s1}\0`)} && ${jsBytes(32, `${s2}\0`)} && (v === 0x10000 || v === 0x20000) ? 100 : 0;`,
      plant: [[0, bytesOf(`${s1}\0`)], [32, bytesOf(`${s2}\0`)], [64, [0, 0, 2, 0]]],
    };
  }
  if (kind < 0.87) {
    // A weak script-header prefix (cloop).
    const p = `#!/bin/sh\n#${letters(4)} Format ${i}\n`;
    return {
      name,
      probes: [{ score: 2, match: { at: 0, prefix: p } }],
      js: `const n = Math.min(${p.length}, bufSize); for (let k = 0; k < n; k++) if (buf[k] !== ${JSON.stringify(p)}.charCodeAt(k)) return 0; return 2;`,
      plant: [[0, bytesOf(p)]],
    };
  }
  if (kind < 0.92) {
    // A weak file-name suffix (dmg).
    const suffix = `.${letters(3).toLowerCase()}${i}`;
    return {
      name,
      suffix,
      probes: [{ score: 2, match: { suffix } }],
      js: `return filename.length > ${suffix.length} && filename.endsWith(${JSON.stringify(suffix)}) ? 2 : 0;`,
      plant: [],
    };
  }
  if (kind < 0.96) {
    // A trailer in the last sector (a dmg-style koly block) with a version.
    const m = magic(4);
    return {
      name,
      probes: [{ score: 100, match: [{ at: -512, bytes: m }, { at: -508, u32be: 4 }] }],
      js: `if (size < 512) return 0; return ${jsBytes(-512, m, 'tail')} && tail[tail.length - 508] === 0 && tail[tail.length - 505] === 4 && tail[tail.length - 507] === 0 && tail[tail.length - 506] === 0 ? 100 : 0;`,
      plant: [[-512, [...bytesOf(m), 0, 0, 0, 4]]],
    };
  }
  // A text format (vmdk descriptor): a guard on the first byte, a probe module decides.
  const text = `${letters(5).toLowerCase()}-version=1\n`;
  const first = text.charCodeAt(0);
  return {
    name,
    text,
    probes: [{ score: 100, match: [{ minLength: 4 }, { at: 0, u8: { in: [0x23, first] } }], module: `text-${i}` }],
    js: moduleBody(text),
    plant: [[0, bytesOf(`# comment\n${text}`)]],
  };
}

/** The probe-module logic of a text format: skip '#' lines, then the version line. */
function moduleBody(text: string): string {
  return `let p = 0; while (p < bufSize && buf[p] === 0x23) { while (p < bufSize && buf[p] !== 10) p++; p++; }
  const want = ${JSON.stringify(text)}; for (let k = 0; k < want.length; k++) if (buf[p + k] !== want.charCodeAt(k)) return 0; return 100;`;
}

const drivers: Synthetic[] = Array.from({ length: DRIVERS }, (_, i) => synthesize(i));
for (const d of drivers) {
  const problems = validateProbes(d.probes as never);
  if (problems.length > 0) throw new Error(`synthetic driver ${d.name}: ${problems.join('; ')}`);
}

// ---------------------------------------------------------------------------------------------
// Inputs.
// ---------------------------------------------------------------------------------------------

interface Input {
  bytes: Uint8Array;
  filename: string;
}

function image(d: Synthetic, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k++) out[k] = int(256);
  for (const [at, bytes] of d.plant) {
    const start = at >= 0 ? at : size + at;
    bytes.forEach((b, k) => {
      if (start + k >= 0 && start + k < size) out[start + k] = b;
    });
  }
  return out;
}

const inputs: Input[] = [];
for (let i = 0; i < INPUTS; i++) {
  const d = pick(drivers);
  const size = pick([0, 3, 100, 512, 4096, 65536]);
  const k = r();
  let bytes: Uint8Array;
  let filename = `disk${i}.img`;
  if (k < 0.45) {
    bytes = image(d, Math.max(size, 1024));
    if (d.suffix) filename = `disk${i}${d.suffix}`;
  } else if (k < 0.6) {
    // A near miss: the format's bytes with one of them flipped.
    bytes = image(d, Math.max(size, 1024));
    const [at, planted] = d.plant[0] ?? [0, [0]];
    const target = (at >= 0 ? at : bytes.length + at) + int(planted.length);
    bytes[target] = bytes[target]! ^ 0x10;
  } else if (k < 0.8) {
    bytes = Uint8Array.from({ length: size }, () => int(256));
  } else if (k < 0.9) {
    bytes = new Uint8Array(size);
  } else {
    bytes = Uint8Array.from({ length: size }, (_, j) => 0x20 + ((i + j) % 90));
  }
  inputs.push({ bytes, filename });
}

// ---------------------------------------------------------------------------------------------
// The models.
// ---------------------------------------------------------------------------------------------

const workdir = mkdtempSync(join(tmpdir(), 'gm-bench-probe-'));
const modulesDir = join(workdir, 'probe-modules');
const driversDir = join(workdir, 'drivers');
mkdirSync(modulesDir);
mkdirSync(driversDir);

type EagerProbe = (buf: Uint8Array, bufSize: number, filename: string, tail: Uint8Array, size: number) => number;

async function main(): Promise<void> {
  // Probe modules: one tiny ES module each, imported on first use (a chunk in the lazy build).
  for (const d of drivers) {
    if (!d.text) continue;
    writeFileSync(join(modulesDir, `${d.probes[0]!.module}.mjs`), `export default function (data) { const buf = data.head, bufSize = buf.length; ${moduleBody(d.text)} }\n`);
  }
  const moduleCache = new Map<string, Promise<ProbeModule>>();
  let moduleImports = 0;
  const loadModule = (id: string): Promise<ProbeModule> => {
    let found = moduleCache.get(id);
    if (!found) {
      moduleImports++;
      found = import(pathToFileURL(join(modulesDir, `${id}.mjs`)).href).then((m: { default: ProbeModule }) => m.default);
      moduleCache.set(id, found);
    }
    return found;
  };

  const compileStart = performance.now();
  const { index } = compileProbeIndex(drivers);
  const compileMs = performance.now() - compileStart;
  // The same evaluator without dispatch: every signature is a candidate.
  const linear: ProbeIndex = { ...index, dispatch: [], suffixes: [], always: index.signatures.map((_, i) => i) };

  // The eager model: every driver is a module with a probe function, all imported up front.
  for (const d of drivers) {
    writeFileSync(join(driversDir, `${d.name}.mjs`), `export class Driver { open() { throw new Error('not a real driver'); } }\nexport function probe(buf, bufSize, filename, tail, size) { ${d.js} }\n`);
  }
  const importStart = performance.now();
  const eager: { name: string; probe: EagerProbe }[] = [];
  for (const d of [...drivers].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const m = (await import(pathToFileURL(join(driversDir, `${d.name}.mjs`)).href)) as { probe: EagerProbe };
    eager.push({ name: d.name, probe: m.probe });
  }
  const eagerImportMs = performance.now() - importStart;
  const eagerDecide = (data: ProbeData): string => {
    if (data.size === 0) return 'raw';
    const buf = new Uint8Array(PROBE_BUFFER_SIZE);
    buf.set(data.head.subarray(0, PROBE_BUFFER_SIZE));
    let best = 'raw';
    let score = 1;
    for (const d of eager) {
      const s = d.probe(buf, PROBE_BUFFER_SIZE, data.filename, data.tail, data.size);
      if (s > score) {
        score = s;
        best = d.name;
      }
    }
    return best;
  };

  // Data as each model reads it: the index's windows (the reference and eager get the same).
  const datas = inputs.map((x) => probeDataFromBytes(index, x.bytes, x.filename));

  // Correctness first: the models agree on every input.
  const decided = new Map<string, number>();
  let modulesPerProbe = 0;
  let maxModules = 0;
  for (const data of datas) {
    const compiled = await probeWithIndex(index, data, loadModule);
    const reference = await referenceProbe(drivers, data, loadModule);
    const walk = await probeWithIndex(linear, data, loadModule);
    if (JSON.stringify(compiled) !== JSON.stringify(reference) || JSON.stringify(compiled) !== JSON.stringify(walk)) {
      throw new Error(`models disagree on ${data.filename}: ${JSON.stringify({ compiled, reference })}`);
    }
    const e = eagerDecide(data);
    if (e !== compiled.format) throw new Error(`eager model says ${e}, the index ${compiled.format} for ${data.filename}`);
    decided.set(compiled.format === 'raw' ? 'raw' : 'a format', (decided.get(compiled.format === 'raw' ? 'raw' : 'a format') ?? 0) + 1);
    modulesPerProbe += compiled.modulesLoaded.length;
    maxModules = Math.max(maxModules, compiled.modulesLoaded.length);
  }

  // Timing: per input, REPS evaluations of each model back to back (interleaved, so that load
  // on the machine hits all models alike); the time per probe is the median over inputs.
  const models: { name: string; reps: number; run: (d: ProbeData) => Promise<unknown> | unknown }[] = [
    { name: 'compiled index', reps: REPS, run: (d) => probeWithIndex(index, d, loadModule) },
    { name: 'linear walk (same evaluator, no dispatch)', reps: REPS, run: (d) => probeWithIndex(linear, d, loadModule) },
    { name: 'reference loop', reps: REFERENCE_REPS, run: (d) => referenceProbe(drivers, d, loadModule) },
    { name: 'eager model (every probe function, modules already imported)', reps: REPS, run: (d) => eagerDecide(d) },
  ];
  const samples = models.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    for (const data of datas) {
      for (let m = 0; m < models.length; m++) {
        const { run, reps } = models[m]!;
        const start = process.hrtime.bigint();
        for (let k = 0; k < reps; k++) await run(data);
        samples[m]!.push(Number(process.hrtime.bigint() - start) / reps / 1000);
      }
    }
  }
  const quantile = (list: number[], q: number) => {
    const sorted = [...list].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  };
  const probeModuleCount = drivers.filter((d) => d.text).length;
  const results = models.map((m, i) => ({
    model: m.name,
    medianMicroseconds: round3(quantile(samples[i]!, 0.5)),
    p90Microseconds: round3(quantile(samples[i]!, 0.9)),
    driverChunksBeforeDecision: i === 3 ? DRIVERS : 0,
    probeModulesConsultedPerProbe: i === 3 ? 0 : round3(modulesPerProbe / datas.length),
  }));
  const speedup = results[2]!.medianMicroseconds / results[0]!.medianMicroseconds;
  const report = {
    drivers: DRIVERS,
    signatures: index.signatures.length,
    probeModules: probeModuleCount,
    inputs: datas.length,
    repetitions: { perInput: REPS * ROUNDS, referencePerInput: REFERENCE_REPS * ROUNDS },
    node: process.version,
    machine: { cpus: cpus().length, loadAverage: loadavg().map(round3) },
    index: {
      compileMilliseconds: round3(compileMs),
      jsonBytes: JSON.stringify(index).length,
      headBytes: index.headBytes,
      tailBytes: index.tailBytes,
      dispatchGroups: index.dispatch.length,
      suffixGroups: index.suffixes.length,
      alwaysEvaluated: index.always.length,
    },
    eagerImportMilliseconds: round3(eagerImportMs),
    decisions: Object.fromEntries(decided),
    maxProbeModulesPerProbe: maxModules,
    probeModuleChunksImported: moduleImports,
    results,
    speedupOverReference: round3(speedup),
    targets: {
      zeroDriverChunksBeforeDecision: results[0]!.driverChunksBeforeDecision === 0,
      atLeast5xFasterThanReference: speedup >= 5,
    },
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(new URL('./results/probe.json', import.meta.url), `${JSON.stringify(report, null, 2)}\n`);

  const lines = [
    `Probe benchmark: ${DRIVERS} synthetic drivers (${index.signatures.length} signatures, ${probeModuleCount} behind probe modules), ${datas.length} inputs x ${REPS * ROUNDS} repetitions (reference ${REFERENCE_REPS * ROUNDS}), Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)}`,
    '',
    '| model | median µs/probe | p90 µs/probe | driver chunks loaded before the decision | probe modules consulted per probe (mean) |',
    '|---|---:|---:|---:|---:|',
    ...results.map((x) => `| ${x.model} | ${x.medianMicroseconds.toFixed(2)} | ${x.p90Microseconds.toFixed(2)} | ${x.driverChunksBeforeDecision} | ${x.probeModulesConsultedPerProbe} |`),
    '',
    `compiled index vs reference loop: ${speedup.toFixed(1)}x faster (target >= 5x: ${speedup >= 5 ? 'met' : 'NOT met'}); driver chunks before the decision: 0 (target 0: met)`,
    `index: ${report.index.dispatchGroups} dispatch groups, ${report.index.suffixGroups} suffix groups, ${report.index.alwaysEvaluated} signatures always evaluated; ${report.index.jsonBytes} bytes of JSON; compiled in ${report.index.compileMilliseconds.toFixed(1)} ms; reads ${index.headBytes} head + ${index.tailBytes} tail bytes`,
    `compiled index vs linear walk over the same prepared signatures: ${(results[1]!.medianMicroseconds / results[0]!.medianMicroseconds).toFixed(1)}x (what dispatch alone buys)`,
    `index model: ${moduleImports} probe-module chunks imported over the whole run (of ${probeModuleCount}), no driver chunk`,
    `eager model: importing the ${DRIVERS} driver modules took ${eagerImportMs.toFixed(0)} ms before the first decision`,
    `results: bench/results/probe.json`,
  ];
  console.log(lines.join('\n'));
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

try {
  await main();
} finally {
  rmSync(workdir, { recursive: true, force: true });
}
