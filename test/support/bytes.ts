// Byte helpers every disk-image and probe test uses: a seeded random source (mulberry32, so a
// failing seed can be replayed), reading a whole virtual disk, its digest, and where two byte
// arrays first differ.
import { createHash } from 'node:crypto';
import type { BlockImage } from '../../fixtures/emulator/src/block/types.js';

/** Deterministic numbers in [0, 1) from `seed`. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The whole virtual disk, read in pieces of `piece` bytes. */
export async function readAll(image: BlockImage, piece = 1 << 20): Promise<Uint8Array> {
  const out = new Uint8Array(image.virtualSize);
  for (let at = 0; at < image.virtualSize; at += piece) out.set(await image.read(at, Math.min(piece, image.virtualSize - at)), at);
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The first offset where `a` and `b` differ (the shorter length when one is a prefix), or -1. */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
