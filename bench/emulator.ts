// npm run bench:emulator: the example emulator, lazy build vs eager build (every driver builtin),
// measured side by side in one run: Node start-up to the first read of an image (`emu info`), and
// JavaScript bytes loaded to get there (recorded by a module hook). Ratios, not absolute times:
// the machine is shared and noisy, so runs alternate and medians are compared.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildEmulator } from '../fixtures/emulator/build.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const hook = join(root, 'test/support/log-loads.mjs');
const runs = Number(process.env.BENCH_RUNS ?? 15);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeRun(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function loadedBytes(emu: string, image: string): { files: number; bytes: number } {
  const result = spawnSync(process.execPath, ['--import', hook, emu, 'info', image], { encoding: 'utf8' });
  const line = result.stderr.split('\n').find((l) => l.startsWith('[loaded-files] '))!;
  const files = (JSON.parse(line.slice('[loaded-files] '.length)) as string[]).filter((u) => u.includes('/dist'));
  return { files: files.length, bytes: files.reduce((sum, url) => sum + statSync(fileURLToPath(url)).size, 0) };
}

export async function benchEmulator(): Promise<Record<string, unknown>> {
  const lazy = await buildEmulator();
  const eager = await buildEmulator({ eager: true });
  const dir = mkdtempSync(join(tmpdir(), 'gm-bench-emu-'));
  const image = join(dir, 'disk.qcow2');
  const times = { node: [] as number[], lazy: [] as number[], eager: [] as number[] };
  let bytes: { lazy: ReturnType<typeof loadedBytes>; eager: ReturnType<typeof loadedBytes> };
  try {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
    for (let i = 0; i < runs + 2; i++) {
      const sample = { node: timeRun(['-e', '0']), lazy: timeRun([lazy, 'info', image]), eager: timeRun([eager, 'info', image]) };
      if (i < 2) continue; // warm the file cache first
      times.node.push(sample.node);
      times.lazy.push(sample.lazy);
      times.eager.push(sample.eager);
    }
    bytes = { lazy: loadedBytes(lazy, image), eager: loadedBytes(eager, image) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = { node: median(times.node), lazy: median(times.lazy), eager: median(times.eager) };
  return {
    runs,
    image: 'qcow2, 64 MiB virtual',
    'median-ms': m,
    'startup-ratio-lazy-vs-eager': m.lazy / m.eager,
    'startup-over-bare-node-ratio': { lazy: (m.lazy - m.node) / (m.eager - m.node) },
    'js-loaded': bytes,
    'js-bytes-ratio-lazy-vs-eager': bytes.lazy.bytes / bytes.eager.bytes,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await benchEmulator();
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/emulator.json'), `${JSON.stringify(result, null, 2)}\n`);
  const m = result['median-ms'] as { node: number; lazy: number; eager: number };
  const b = result['js-loaded'] as { lazy: { files: number; bytes: number }; eager: { files: number; bytes: number } };
  console.log(`| example emulator, \`emu info\` on a qcow2 image | lazy build | eager build | lazy / eager |`);
  console.log(`|---|---|---|---|`);
  console.log(`| Node start-up to first read, median of ${runs} (ms; bare \`node -e 0\`: ${m.node.toFixed(0)}) | ${m.lazy.toFixed(0)} | ${m.eager.toFixed(0)} | ${(m.lazy / m.eager).toFixed(2)}x |`);
  console.log(`| the same minus bare Node start-up (ms) | ${(m.lazy - m.node).toFixed(0)} | ${(m.eager - m.node).toFixed(0)} | ${((m.lazy - m.node) / (m.eager - m.node)).toFixed(2)}x |`);
  console.log(`| JavaScript loaded (bytes, files) | ${b.lazy.bytes} (${b.lazy.files}) | ${b.eager.bytes} (${b.eager.files}) | ${(b.lazy.bytes / b.eager.bytes).toFixed(2)}x |`);
}
