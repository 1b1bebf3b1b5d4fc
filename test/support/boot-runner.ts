// Boots one image in v86 in its own process (an exception inside v86 can kill the process that
// runs it) and prints the outcome as one JSON line on stdout. Used by test/emulator/boot.test.ts.
// The image is opened through the block layer (format probed unless --format):
//   node --import tsx test/support/boot-runner.ts IMAGE [--format FMT] [--gunzip]
//        [--until TEXT] [--timeout MS] [--write-through] [--save-raw OUT]
// --save-raw reads the whole virtual disk into OUT instead of booting (tests run no driver in the
// vitest process).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { bootImage } from '../../fixtures/emulator/src/v86/boot.js';
import { openBootSample } from './boot-open.js';

const args = process.argv.slice(2);
let image: string | undefined;
let format: string | undefined;
let gunzip = false;
let until: string | undefined;
let timeoutMs = 60_000;
let writeThrough = false;
let saveRaw: string | undefined;
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--format') format = args[++i]!;
  else if (arg === '--gunzip') gunzip = true;
  else if (arg === '--until') until = args[++i];
  else if (arg === '--timeout') timeoutMs = Number(args[++i]);
  else if (arg === '--write-through') writeThrough = true;
  else if (arg === '--save-raw') saveRaw = args[++i];
  else image = arg;
}
if (!image) {
  console.error('usage: boot-runner IMAGE [--format FMT] [--gunzip] [--until TEXT] [--timeout MS] [--write-through]');
  process.exit(2);
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const before = sha256(image);
const opened = await openBootSample(image, { format, gunzip, writable: writeThrough });
if (saveRaw !== undefined) {
  const bytes = await opened.image.read(0, opened.image.virtualSize);
  await opened.image.close();
  writeFileSync(saveRaw, bytes);
  process.stdout.write(`${JSON.stringify({ sha256: createHash('sha256').update(bytes).digest('hex'), loadedDrivers: opened.loadedDrivers() })}\n`);
  process.exit(0);
}
const result = await bootImage(opened.image, {
  name: image,
  timeoutMs,
  writeThrough,
  stopWhen: until === undefined ? undefined : (text) => text.includes(until!),
});
await opened.image.close();
process.stdout.write(
  `${JSON.stringify({
    serial: result.serial,
    reason: result.reason,
    ms: result.ms,
    disk: result.disk,
    loadedDrivers: opened.loadedDrivers(),
    sha256Before: before,
    sha256After: sha256(image),
  })}\n`,
);
