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
export { BUILD_ID_EXPORT, MANIFEST_VERSION, ManifestError, parseManifest, type BuildManifest, type ManifestChunk, type ManifestDriver, type ManifestProbe } from './manifest.js';
export {
  createManifestLoader,
  type ChunkImporter,
  type ChunkOwner,
  type ManifestLoader,
  type ManifestLoaderOptions,
  type PreloadDocument,
  type PreloadMode,
} from './manifest-loader.js';
export {
  DEFINITE_SCORE,
  PROBE_BUFFER_SIZE,
  RAW_SCORE,
  probeDataFromBytes,
  probeWithIndex,
  type DispatchGroup,
  type IndexedProbe,
  type ProbeIndex,
  type ProbeBufferMode,
  type SuffixGroup,
  type ProbeMatch,
  type ProbeModule,
  type ProbeResult,
} from './probe.js';
export type { ProbeSignature, ProbeTest, IntComparison, ProbeData, DriverState, DriverKind } from '../model.js';
