// Well-known paths of the repository, for tests.
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const emulatorDir = `${repoRoot}fixtures/emulator`;
export const lazyEmu = `${emulatorDir}/dist/emu.mjs`;
export const eagerEmu = `${emulatorDir}/dist-eager/emu.mjs`;
export const imagesDir = `${emulatorDir}/images`;
export const genModulesBin = `${repoRoot}bin/gen-modules.js`;
/** tsx's loader as a URL, for `node --import` in a process whose working directory is not the repository. */
export const tsxLoader = pathToFileURL(createRequire(`${repoRoot}package.json`).resolve('tsx')).href;
