// `gen-modules/runtime`: what application code and generated tables import. Runs in browsers:
// no `node:*` imports, no ts-morph.
export { blockDriver, createDriverDecorator, type BlockDriverOptions } from './decorator.js';
export { registeredClass } from './registered.js';
export {
  createDriverRegistry,
  defineDriverTable,
  DriverError,
  type DriverErrorCode,
  type DriverRegistry,
  type DriverStatus,
  type DriverTable,
  type DriverTableEntry,
  type LoadStatus,
  type RegistryOptions,
} from './registry.js';
export {
  DEFINITE_SCORE,
  PROBE_BUFFER_SIZE,
  RAW_SCORE,
  probeWithIndex,
  type IndexedProbe,
  type ProbeIndex,
  type ProbeMatch,
  type ProbeModule,
  type ProbeResult,
} from './probe.js';
export type { ProbeSignature, ProbeTest, IntComparison, ProbeData, DriverState, DriverKind } from '../model.js';
