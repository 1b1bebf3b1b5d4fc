// Boot benchmark: how much booting through a format driver costs against v86's own raw path.
// Boots the sample in fixtures/emulator/images/boot (GRUB from a FAT16 partition, hashing a file,
// writing its environment block) until its last known serial line, through qcow2, vmdk, vdi and
// vhdx (block layer + BlockImageDisk), through the raw driver (same adapter, no format), and as a
// raw ArrayBuffer handed to v86 directly (`hda: { buffer }`, the baseline). All in one process,
// the order rotated each repetition; reports medians and their ratios to the baseline.
//
//   npx tsx bench/boot.ts [--reps N] [--compare-read-ahead]     (default 7 repetitions)
// --compare-read-ahead adds each format booted without the adapter's read-ahead.
// Writes bench/results/boot.json and prints a markdown table. Needs SeaBIOS (apt-get install seabios).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bootDisk, bootImage, SEABIOS_DIR, type BootResult } from '../fixtures/emulator/src/v86/boot.js';
import { gunzipToTemp, openBootSample } from '../test/support/boot-open.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const samples = `${root}fixtures/emulator/images/boot`;
const resultsFile = `${root}bench/results/boot.json`;

interface Expected {
  format: string;
  gzip?: boolean;
  sha256: string;
  'serial-expect': string[];
  'virtual-size': number;
}

const repsArg = process.argv.indexOf('--reps');
const reps = repsArg >= 0 ? Number(process.argv[repsArg + 1]) : 7;
if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps needs a whole number >= 1');
if (!existsSync(`${SEABIOS_DIR}/bios.bin`) && !existsSync(`${SEABIOS_DIR}/bios-256k.bin`)) {
  console.error(`bench/boot.ts: SeaBIOS is not installed (${SEABIOS_DIR}); apt-get install seabios`);
  process.exit(1);
}

const expected = JSON.parse(readFileSync(`${samples}/expected.json`, 'utf8')) as Record<string, Expected>;
const entries = Object.entries(expected).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
const first = entries[0]![1];
const lastLine = first['serial-expect'].at(-1)!;
const stopWhen = (text: string) => text.includes(lastLine);

interface Variant {
  name: string;
  /** Opens (untimed) and boots (timed by bootImage/bootDisk from its call). */
  run(): Promise<{ result: BootResult; openMs: number; drivers: string[]; cpuMs: number }>;
}

const cleanups: (() => void)[] = [];
const variants: Variant[] = [];
const skipped: Record<string, string> = {};

// Sample files on disk (gzipped ones unpacked once), by format.
const files = new Map<string, string>();
const shaOf = new Map<string, string>();
for (const [name, info] of entries) {
  shaOf.set(info.format, info.sha256);
  if (info.gzip) {
    const { file, remove } = gunzipToTemp(`${samples}/${name}`);
    cleanups.push(remove);
    files.set(info.format, file);
  } else {
    files.set(info.format, `${samples}/${name}`);
  }
}

// The raw disk, read through the first format that opens, checked against expected.json.
let raw: Uint8Array | undefined;
for (const [format, file] of files) {
  try {
    const opened = await openBootSample(file, { format });
    const bytes = await opened.image.read(0, opened.image.virtualSize);
    await opened.image.close();
    if (createHash('sha256').update(bytes).digest('hex') === shaOf.get(format)) {
      raw = bytes;
      break;
    }
    console.error(`bench/boot.ts: ${format} read gives the wrong bytes; not used for the baseline`);
  } catch (error) {
    console.error(`bench/boot.ts: ${format}: ${(error as Error).message}`);
  }
}
if (!raw) throw new Error('no format driver could read the sample, so there is no raw baseline');
const rawBytes = raw;
const rawFile = `${root}bench/tmp/boot.raw`;
mkdirSync(`${root}bench/tmp`, { recursive: true });
writeFileSync(rawFile, rawBytes);
cleanups.push(() => rmSync(rawFile, { force: true }));

variants.push({
  name: 'raw buffer (v86 direct)',
  async run() {
    const buffer = rawBytes.slice().buffer;
    const cpu = process.cpuUsage();
    const result = await bootDisk({ buffer }, { stopWhen, timeoutMs: 120_000 });
    return { result, openMs: 0, drivers: [], cpuMs: cpuMs(cpu) };
  },
});
/** CPU time this process used since `start` (v86 runs on this thread; under load, steadier than wall time). */
const cpuMs = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};
const compareReadAhead = process.argv.includes('--compare-read-ahead');
const formatVariant = (label: string, file: string, format: string, readAhead = true): Variant => ({
  name: label,
  async run() {
    const t0 = performance.now();
    const opened = await openBootSample(file, { format });
    const openMs = performance.now() - t0;
    try {
      const cpu = process.cpuUsage();
      const result = await bootImage(opened.image, { name: file, stopWhen, timeoutMs: 120_000, readAhead });
      return { result, openMs, drivers: opened.loadedDrivers(), cpuMs: cpuMs(cpu) };
    } finally {
      await opened.image.close();
    }
  },
});
variants.push(formatVariant('raw driver (adapter)', rawFile, 'raw'));
for (const [format, file] of files) {
  // A format whose driver is missing or cannot read the sample is reported, not timed.
  try {
    const opened = await openBootSample(file, { format });
    const bytes = await opened.image.read(0, opened.image.virtualSize);
    await opened.image.close();
    if (createHash('sha256').update(bytes).digest('hex') !== shaOf.get(format)) throw new Error('reads the wrong bytes');
    variants.push(formatVariant(format, file, format));
    if (compareReadAhead) variants.push(formatVariant(`${format}, no read-ahead`, file, format, false));
  } catch (error) {
    skipped[format] = (error as Error).message;
  }
}

const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const cpuTimes = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const details = new Map<string, { openMs: number[]; readMs: number[]; reads: number; imageReads: number; drivers: string[] }>();
for (let rep = 0; rep < reps; rep++) {
  // Rotate the order so no variant always runs first (cold caches) or last.
  const order = variants.map((_, i) => variants[(i + rep) % variants.length]!);
  for (const variant of order) {
    const { result, openMs, drivers, cpuMs: cpu } = await variant.run();
    cpuTimes.get(variant.name)!.push(cpu);
    if (result.reason !== 'matched') throw new Error(`${variant.name}: ${result.reason} before "${lastLine}"`);
    for (const line of first['serial-expect']) {
      if (!result.serial.includes(line)) throw new Error(`${variant.name}: serial output lacks "${line}"`);
    }
    times.get(variant.name)!.push(result.ms);
    const d = details.get(variant.name) ?? { openMs: [], readMs: [], reads: 0, imageReads: 0, drivers };
    d.openMs.push(openMs);
    if (result.disk) {
      d.readMs.push(result.disk.readMs);
      d.reads = result.disk.reads;
      d.imageReads = result.disk.imageReads;
    }
    details.set(variant.name, d);
    process.stderr.write(`rep ${rep + 1}/${reps} ${variant.name}: ${result.ms.toFixed(0)} ms\n`);
  }
}
for (const cleanup of cleanups) cleanup();

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const baseline = median(times.get(variants[0]!.name)!);
const cpuBaseline = median(cpuTimes.get(variants[0]!.name)!);
const rows = variants.map((variant) => {
  const ms = times.get(variant.name)!;
  const d = details.get(variant.name)!;
  return {
    variant: variant.name,
    medianMs: Math.round(median(ms)),
    minMs: Math.round(Math.min(...ms)),
    maxMs: Math.round(Math.max(...ms)),
    ratio: Number((median(ms) / baseline).toFixed(3)),
    medianCpuMs: Math.round(median(cpuTimes.get(variant.name)!)),
    cpuRatio: Number((median(cpuTimes.get(variant.name)!) / cpuBaseline).toFixed(3)),
    medianOpenMs: Number(median(d.openMs).toFixed(1)),
    medianReadWaitMs: d.readMs.length ? Number(median(d.readMs).toFixed(1)) : null,
    guestReads: d.reads || null,
    imageReads: d.imageReads || null,
    loadedDrivers: d.drivers,
    samplesMs: ms.map((t) => Math.round(t)),
  };
});

const report = {
  what: `boot ${first['virtual-size'] / 1024 / 1024} MiB GRUB sample to "${lastLine}" in v86 (Node ${process.versions.node}, ${cpus().length} CPUs)`,
  repetitions: reps,
  target: 'median ratio to the raw buffer at most 1.2',
  loadAverage: loadavg().map((l) => Number(l.toFixed(2))),
  rows,
  skipped,
};
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(resultsFile, `${JSON.stringify(report, null, 2)}\n`);

console.log(`\n${report.what}, ${reps} repetitions, medians\n`);
console.log('| variant | median ms | min-max ms | ratio to raw buffer | CPU ms | CPU ratio | open ms | read wait ms | guest reads / image reads |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const row of rows) {
  console.log(
    `| ${row.variant} | ${row.medianMs} | ${row.minMs}-${row.maxMs} | ${row.ratio.toFixed(2)}x | ${row.medianCpuMs} | ${row.cpuRatio.toFixed(2)}x | ${row.medianOpenMs} | ${row.medianReadWaitMs ?? '-'} | ${row.guestReads ? `${row.guestReads} / ${row.imageReads}` : '-'} |`,
  );
}
for (const [format, why] of Object.entries(skipped)) console.log(`\nskipped ${format}: ${why}`);
console.log(`\nwritten to ${resultsFile.replace(root, '')}`);
