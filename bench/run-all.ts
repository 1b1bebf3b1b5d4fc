// npm run bench: every benchmark, one after another in one run, then bench/results.json (each
// benchmark's figures) and bench/summary.md (their ratio tables). Each benchmark is its own
// process so one's heap and JIT state cannot colour another's numbers.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const BENCHES = [
  { name: 'emulator', title: 'Example emulator: start-up and JavaScript loaded, lazy vs eager', script: 'bench/emulator.ts' },
  { name: 'build', title: 'Bundler plugins: build overhead, main chunk growth, start-up (200 synthetic drivers)', script: 'bench/build.ts' },
  { name: 'probe', title: 'Probe cost: compiled index vs reference loop vs eager model (200 drivers)', script: 'bench/probe.ts' },
  { name: 'scan', title: 'Scan cost vs its floor and vs a naive ts-morph Project', script: 'bench/scan.ts' },
  { name: 'boot', title: 'Booting in v86 through our drivers vs a raw ArrayBuffer', script: 'bench/boot.ts' },
];

const only = process.argv.slice(2);
const sections: string[] = ['# Benchmark summary', '', `Reproduce with \`npm run bench\` (Node ${process.version}, ${process.platform}).`, ''];
const results: Record<string, unknown> = {};
let failed = 0;
for (const bench of BENCHES) {
  if (only.length > 0 && !only.includes(bench.name)) continue;
  if (!existsSync(join(root, bench.script))) continue;
  console.log(`\n== ${bench.title}`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', bench.script], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(run.stdout);
  if (run.status !== 0) {
    failed++;
    sections.push(`## ${bench.title}`, '', `failed (exit ${run.status})`, '');
    continue;
  }
  const json = join(root, 'bench/results', `${bench.name}.json`);
  if (existsSync(json)) results[bench.name] = JSON.parse(readFileSync(json, 'utf8'));
  const table = run.stdout.split('\n').filter((line) => line.startsWith('|'));
  sections.push(`## ${bench.title}`, '', `\`npm run bench:${bench.name}\``, '', ...table, '');
}
mkdirSync(join(root, 'bench'), { recursive: true });
writeFileSync(join(root, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(root, 'bench/summary.md'), `${sections.join('\n')}\n`);
console.log(`\nwrote bench/results.json and bench/summary.md`);
process.exitCode = failed > 0 ? 1 : 0;
