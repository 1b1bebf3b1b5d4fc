// The first lines of a test application's src/main.ts that loads its drivers through the build
// manifest written beside its bundle: `registry` is ready after them.
export const registryFromManifest: readonly string[] = [
  `import { readFileSync } from 'node:fs';`,
  `import { createDriverRegistry, parseManifest } from 'gen-modules/runtime';`,
  `import { driverTable } from './generated/drivers.gen.js';`,
  `const manifest = parseManifest(readFileSync(new URL('./gen-modules-manifest.json', import.meta.url), 'utf8'));`,
  `const registry = createDriverRegistry(driverTable, { manifest, baseUrl: new URL('./', import.meta.url).href });`,
];
