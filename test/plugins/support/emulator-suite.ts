// The example emulator built with one bundler in both decorator modes, checked the same way for
// every bundler: each `module` driver in `drivers/<name>-<hash>.mjs` (the map derived from the
// sources, so the three bundlers' test files assert one and the same map), builtins in the entry,
// SRI values and build ids that match the bytes, and the bundle reading a qcow2 image in Node
// exactly like qemu-img, loading only the chunks its drivers need.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEmulator } from '../../../fixtures/emulator/build.js';
import { scan } from '../../../src/index.js';
import type { BuildManifest } from '../../../src/runtime/manifest.js';
import { emulatorDir, repoRoot } from '../../support/paths.js';
import { runNode } from '../../support/run-node.js';
import { hasTool, requireTool } from '../../support/system.js';
import { cleanup, type Bundler } from './build-app.js';

const MODES = ['standard', 'legacy'] as const;
type Mode = (typeof MODES)[number];

/** What every bundler must produce: driver -> chunk pattern (or 'builtin'), from the sources. */
export async function expectedDriverMap(): Promise<{ drivers: Map<string, { state: string; exportName: string }>; probes: Map<string, string> }> {
  const result = await scan({ config: `${repoRoot}gen-modules.config.json` });
  const drivers = new Map<string, { state: string; exportName: string }>();
  const probes = new Map<string, string>();
  for (const d of result.drivers) {
    if (d.state === 'disabled') continue;
    drivers.set(d.name, { state: d.state, exportName: d.exportName });
    for (const p of d.probes) {
      if (p.module) probes.set(posix.normalize(posix.join(posix.dirname(d.file), p.module)), posix.basename(p.module).replace(/\.ts$/, ''));
    }
  }
  return { drivers, probes };
}

/** Normalises a manifest to the bundler-independent map: driver -> 'drivers/<name>-*.mjs' | 'builtin'. */
export function driverChunkMap(manifest: BuildManifest): Record<string, string> {
  const map: Record<string, string> = {};
  for (const [name, d] of Object.entries(manifest.drivers)) {
    map[name] = d.state === 'builtin' ? 'builtin' : (d.chunk ?? '').replace(/-[A-Za-z0-9_-]{8}\.mjs$/, '-*.mjs');
  }
  return map;
}

/** A qcow2 image with data, and the sha256 of its raw content per qemu-img; or a committed sample. */
function makeImage(dir: string): { file: string; rawSha256?: string } | undefined {
  if (hasTool('qemu-img') && hasTool('qemu-io')) {
    const file = join(dir, 'test.qcow2');
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
    };
    run('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', file, '1M']);
    run('qemu-io', ['-c', 'write -q -P 0x5a 4000 10000', '-c', 'write -q -P 0xc3 600000 70000', file]);
    run('qemu-img', ['convert', '-O', 'raw', file, join(dir, 'expected.raw')]);
    return { file, rawSha256: sha256(readFileSync(join(dir, 'expected.raw'))) };
  }
  const committed = `${emulatorDir}/images/qcow2`;
  const sample = existsSync(committed) ? readdirSync(committed).find((f) => /^[\w-]+\.qcow2$/.test(f) && !f.startsWith('chain') && !f.startsWith('data-file')) : undefined;
  if (sample) return { file: join(committed, sample) };
  return requireTool('qemu-img', 'the emulator bundle test (no committed qcow2 sample either)') ? undefined : undefined;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

export function emulatorSuite(bundler: Bundler): void {
  describe(`example emulator built with ${bundler}`, () => {
    let tmp: string | undefined;
    const out: Record<Mode, string> = { standard: '', legacy: '' };
    const manifests = {} as Record<Mode, BuildManifest>;
    let expected: Awaited<ReturnType<typeof expectedDriverMap>>;
    let image: ReturnType<typeof makeImage>;

    beforeAll(async () => {
      tmp = mkdtempSync(join(tmpdir(), `gen-modules-emu-${bundler}-`));
      expected = await expectedDriverMap();
      for (const mode of MODES) {
        out[mode] = join(tmp, mode);
        await buildEmulator({ bundler, legacyDecorators: mode === 'legacy', outdir: out[mode] });
        manifests[mode] = JSON.parse(readFileSync(join(out[mode], 'gen-modules-manifest.json'), 'utf8')) as BuildManifest;
      }
      image = makeImage(tmp);
    });
    afterAll(() => cleanup(tmp));

    it.each(MODES)('%s decorators: every module driver in drivers/<name>-<hash>.mjs, builtins in the entry, disabled absent', (mode) => {
      const manifest = manifests[mode];
      expect(manifest.bundler).toBe(bundler);
      const want: Record<string, string> = {};
      for (const [name, d] of expected.drivers) want[name] = d.state === 'builtin' ? 'builtin' : `drivers/${name}-*.mjs`;
      expect(driverChunkMap(manifest)).toEqual(want);
      const probes = Object.fromEntries(Object.entries(manifest.probes).map(([id, p]) => [id, p.chunk.replace(/-[A-Za-z0-9_-]{8}\.mjs$/, '-*.mjs')]));
      expect(probes).toEqual(Object.fromEntries([...expected.probes].map(([id, base]) => [id, `probes/${base}-*.mjs`])));
      expect(manifest.entries).toEqual(['emu.mjs']);
    });

    it('both decorator modes give the same driver-to-chunk map, each lowered its own way', () => {
      expect(driverChunkMap(manifests.legacy)).toEqual(driverChunkMap(manifests.standard));
      const allCode = (mode: Mode) => Object.keys(manifests[mode].chunks).map((f) => readFileSync(join(out[mode], f), 'utf8')).join('\n');
      // esbuild's helpers (esbuild itself, or its transform inside the rollup and Vite plugins).
      expect(allCode('legacy')).toMatch(/__decorateClass/);
      expect(allCode('standard')).not.toMatch(/__decorateClass/);
      expect(allCode('standard')).toMatch(/__decorateElement|__runInitializers/);
      expect(allCode('standard')).not.toMatch(/^\s*@blockDriver\(/m);
    });

    it.each(MODES)('%s decorators: sizes, SRI values and build ids match the final bytes; driver code only in its own chunk', (mode) => {
      const manifest = manifests[mode];
      for (const [file, chunk] of Object.entries(manifest.chunks)) {
        const bytes = readFileSync(join(out[mode], file));
        expect(chunk.bytes, file).toBe(bytes.length);
        expect(chunk.integrity, file).toBe(`sha384-${createHash('sha384').update(bytes).digest('base64')}`);
      }
      const eager = [...manifest.entries, ...manifest.entryImports].map((f) => readFileSync(join(out[mode], f), 'utf8')).join('\n');
      for (const [name, d] of Object.entries(manifest.drivers)) {
        const decl = new RegExp(`\\b(?:class|var|let|const)\\s+${expected.drivers.get(name)!.exportName}\\b`);
        if (d.state === 'builtin') {
          expect(eager, name).toMatch(decl);
          continue;
        }
        const own = readFileSync(join(out[mode], d.chunk!), 'utf8');
        expect(own, name).toMatch(decl);
        expect(eager, `${name} must not be in the entry or its static imports`).not.toMatch(decl);
        expect(own).toContain(`export const __genModulesBuildId = ${JSON.stringify(manifest.buildId)};`);
        // The imports listed are exactly the chunks the driver chunk needs beyond the entry's.
        for (const shared of d.imports) expect(manifest.entryImports).not.toContain(shared);
        expect(d.bytes).toBe([d.chunk!, ...d.imports].reduce((sum, f) => sum + manifest.chunks[f]!.bytes, 0));
      }
      expect(manifest.buildId).toMatch(/^[0-9a-f]{16}$/);
      // A shared chunk's `imports` are the chunks its code imports statically (what a loader
      // without preloading orders its imports by).
      const shared = new Set(Object.values(manifest.drivers).flatMap((d) => d.imports));
      for (const file of shared) {
        const code = readFileSync(join(out[mode], file), 'utf8');
        const specifiers = [...code.matchAll(/^\s*(?:import|export)\s*(?:[\w$*{}\s,]+from\s*)?["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => posix.join(posix.dirname(file), m[1]!));
        expect(manifest.chunks[file]!.imports ?? [], file).toEqual([...new Set(specifiers.filter((f) => manifest.chunks[f] !== undefined))].sort());
      }
    });

    it.each(MODES)('%s decorators: `info` and `convert` read a qcow2 image in Node, loading only file + qcow2 chunks', async (mode) => {
      if (!image) return;
      const manifest = manifests[mode];
      const emu = join(out[mode], 'emu.mjs');
      const info = await runNode(['--import', `${repoRoot}test/support/log-loads.mjs`, emu, 'info', '--output=json', image.file]);
      expect(info.stderr.split('[loaded-files]')[0]!.trim()).toBe('');
      expect(info.code).toBe(0);
      const json = JSON.parse(info.stdout) as Record<string, unknown>;
      expect(json.format).toBe('qcow2');
      expect(json['loaded-drivers']).toEqual(['file', 'qcow2'].filter((n) => manifest.drivers[n]?.state === 'module'));
      const needed = new Set([...manifest.entries, ...manifest.entryImports]);
      for (const name of ['file', 'qcow2']) {
        const d = manifest.drivers[name]!;
        if (d.chunk) [d.chunk, ...d.imports].forEach((f) => needed.add(f));
      }
      const loaded = (JSON.parse(info.stderr.split('[loaded-files]')[1]!) as string[])
        .filter((url) => url.startsWith(`file://${out[mode]}/`))
        .map((url) => url.slice(`file://${out[mode]}/`.length));
      expect(new Set(loaded)).toEqual(needed);
      if (!image.rawSha256) return;
      const raw = join(tmp!, `${mode}.raw`);
      const converted = await runNode([emu, 'convert', '-O', 'raw', image.file, raw]);
      expect(converted.code, converted.stderr).toBe(0);
      expect(sha256(readFileSync(raw))).toBe(image.rawSha256);
    });
  });
}
