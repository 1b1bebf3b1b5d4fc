// The example emulator built with the esbuild plugin, standard and legacy decorators (see support/emulator-suite.ts).
import { emulatorSuite } from './support/emulator-suite.js';

emulatorSuite('esbuild');
