// finishChunks (plugin/build-manifest.ts) on files on disk, as the esbuild and Vite plugins use it:
// the build id statement each lazy chunk gets, each chunk's size and SRI value, and the chunk
// states a process keeps so that a lazy chunk it finished before (same hashed name, same size) is
// finished again under another build id without being read or hashed.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { finishChunks, type ChunkState, type ChunkToFinish } from '../../plugin/build-manifest.js';
import { outputStore } from '../../plugin/output-store.js';

const sri = (bytes: Uint8Array | string) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;
const statement = (id: string) => `export const __genModulesBuildId = ${JSON.stringify(id)};\n`;

describe('finishChunks on disk', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** An output folder with an entry chunk (its contents go into the build id) and lazy chunks with hashed names. */
  function outputFolder(files: Record<string, string>) {
    dir = mkdtempSync(join(tmpdir(), 'gm-finish-chunks-'));
    mkdirSync(join(dir, 'drivers'));
    for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
    const chunk = (file: string, lazy = true): ChunkToFinish => ({ file, path: join(dir!, file), size: Buffer.byteLength(readFileSync(join(dir!, file))), lazy, hashedName: lazy });
    const read = (file: string) => readFileSync(join(dir!, file), 'utf8');
    return { chunk, read, write: (file: string, text: string) => writeFileSync(join(dir!, file), text) };
  }

  const A = 'drivers/a-HASHA.js';
  const B = 'drivers/b-HASHB.js';
  const codeA = 'export const a = 1;\n';
  const codeB = 'export const b = 2;\n//# sourceMappingURL=b-HASHB.js.map\n';

  it('hashes every chunk the first time and keeps the states of the lazy ones with hashed names', () => {
    const out = outputFolder({ 'main.js': 'import("./drivers/a-HASHA.js");\n', [A]: codeA, [B]: codeB });
    const first = finishChunks(outputStore(undefined), [out.chunk('main.js', false), out.chunk(A), out.chunk(B)]);
    expect(out.read(A)).toBe(codeA + statement(first.buildId));
    // Before a trailing sourceMappingURL comment, which must stay the last line.
    expect(out.read(B)).toBe(`export const b = 2;\n${statement(first.buildId)}//# sourceMappingURL=b-HASHB.js.map\n`);
    for (const file of ['main.js', A, B]) expect(first.finished.get(file), file).toEqual({ bytes: Buffer.byteLength(out.read(file)), integrity: sri(out.read(file)) });
    expect([...first.states.keys()].sort()).toEqual([join(dir!, A), join(dir!, B)]);
  });

  it('a chunk finished before under the same name and size: not read again, the statement written at its place, the SRI value from the kept state', () => {
    const out = outputFolder({ 'main.js': 'import("./drivers/a-HASHA.js");\n', [A]: codeA, [B]: codeB });
    const chunks = () => [out.chunk('main.js', false), { ...out.chunk(A), size: codeA.length }, { ...out.chunk(B), size: codeB.length }];
    const first = finishChunks(outputStore(undefined), chunks());
    // The bundler writes the chunks again (same bytes) and the entry changes: a new build id.
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // edited\n');
    out.write(A, codeA);
    out.write(B, codeB);
    const second = finishChunks(outputStore(undefined), chunks(), undefined, first.states);
    expect(second.buildId).not.toBe(first.buildId);
    for (const file of ['main.js', A, B]) expect(second.finished.get(file), file).toEqual({ bytes: Buffer.byteLength(out.read(file)), integrity: sri(out.read(file)) });
    expect(out.read(B)).toBe(`export const b = 2;\n${statement(second.buildId)}//# sourceMappingURL=b-HASHB.js.map\n`);
    // The same states carry on to the next build.
    expect(second.states.get(join(dir!, A))).toBe(first.states.get(join(dir!, A)));

    // A file the bundler left as the last build finished it: the statement replaces the old one.
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // edited again\n');
    out.write(B, codeB);
    const third = finishChunks(outputStore(undefined), chunks(), undefined, second.states);
    expect(out.read(A)).toBe(codeA + statement(third.buildId));
    expect(third.finished.get(A)).toEqual({ bytes: Buffer.byteLength(out.read(A)), integrity: sri(out.read(A)) });

    // Not read: a same-size chunk with other bytes (which a hashed name rules out) keeps the kept state's value.
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // and again\n');
    out.write(A, 'export const x = 9;\n');
    const fourth = finishChunks(outputStore(undefined), chunks(), undefined, third.states);
    expect(fourth.finished.get(A)!.integrity).toBe(sri(codeA + statement(fourth.buildId)));
  });

  it('a kept state of another size, or none for that path: the chunk is read and hashed', () => {
    const out = outputFolder({ 'main.js': 'import("./drivers/a-HASHA.js");\n', [A]: codeA });
    const first = finishChunks(outputStore(undefined), [out.chunk('main.js', false), out.chunk(A)]);
    const wrong: ChunkState = { ...first.states.get(join(dir!, A))!, bytes: codeA.length + 1, prefix: createHash('sha384').update('forged') };
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // edited\n');
    out.write(A, codeA);
    const second = finishChunks(outputStore(undefined), [out.chunk('main.js', false), out.chunk(A)], undefined, new Map([[join(dir!, A), wrong]]));
    expect(second.finished.get(A)).toEqual({ bytes: Buffer.byteLength(out.read(A)), integrity: sri(out.read(A)) });
    expect(second.states.get(join(dir!, A))!.bytes).toBe(codeA.length);
  });

  it('without the bundler’s size (Vite), the file’s size on disk decides whether the kept state holds', () => {
    const out = outputFolder({ 'main.js': 'import("./drivers/a-HASHA.js");\n', [A]: codeA, [B]: codeB });
    const chunks = () => [out.chunk('main.js', false), { ...out.chunk(A), size: undefined }, { ...out.chunk(B), size: undefined }];
    const first = finishChunks(outputStore(undefined), chunks());
    // Rewritten by the bundler, same bytes: finished from the states (a same-size forgery of A
    // keeps the state's value, so A was not read).
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // edited\n');
    out.write(A, 'export const x = 9;\n');
    out.write(B, codeB);
    const second = finishChunks(outputStore(undefined), chunks(), undefined, first.states);
    expect(second.finished.get(A)!.integrity).toBe(sri(codeA + statement(second.buildId)));
    expect(second.finished.get(B)).toEqual({ bytes: Buffer.byteLength(out.read(B)), integrity: sri(out.read(B)) });
    expect(out.read(B)).toBe(`export const b = 2;\n${statement(second.buildId)}//# sourceMappingURL=b-HASHB.js.map\n`);

    // Another size on disk: read and hashed, whatever the state says; its statement in the right place.
    out.write('main.js', 'import("./drivers/a-HASHA.js"); // edited again\n');
    const longer = 'export const a = 10;\n//# sourceMappingURL=a-HASHA.js.map\n';
    out.write(A, longer);
    out.write(B, codeB);
    const third = finishChunks(outputStore(undefined), chunks(), undefined, second.states);
    expect(out.read(A)).toBe(`export const a = 10;\n${statement(third.buildId)}//# sourceMappingURL=a-HASHA.js.map\n`);
    expect(third.finished.get(A)).toEqual({ bytes: Buffer.byteLength(out.read(A)), integrity: sri(out.read(A)) });
    expect(third.states.get(join(dir!, A))!.bytes).toBe(longer.length);
    expect(third.states.get(join(dir!, B))).toBe(first.states.get(join(dir!, B)));
  });

  it('a chunk that is not on disk is left out, with or without a kept state', () => {
    const out = outputFolder({ 'main.js': 'import("./drivers/a-HASHA.js");\n', [A]: codeA });
    const chunks = [out.chunk('main.js', false), out.chunk(A)];
    const first = finishChunks(outputStore(undefined), chunks);
    rmSync(join(dir!, A));
    for (const states of [undefined, first.states]) {
      const again = finishChunks(outputStore(undefined), chunks, undefined, states);
      expect(again.finished.has(A)).toBe(false);
      expect(again.states.size).toBe(0);
    }
  });
});
