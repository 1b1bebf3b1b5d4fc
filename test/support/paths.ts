// Well-known paths of the repository, for tests.
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const emulatorDir = `${repoRoot}fixtures/emulator`;
export const lazyEmu = `${emulatorDir}/dist/emu.mjs`;
export const eagerEmu = `${emulatorDir}/dist-eager/emu.mjs`;
export const imagesDir = `${emulatorDir}/images`;
export const genModulesBin = `${repoRoot}bin/gen-modules.js`;
