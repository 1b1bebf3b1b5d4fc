// The build manifest the gen-modules bundler plugins write beside the output
// (`gen-modules-manifest.json`): which chunk each driver and probe module lives in, which shared
// chunks it needs, their sizes and SRI hashes, and the build id every lazy chunk carries. The
// runtime reads it to fetch a driver's chunks at once and to refuse chunks of another build.
// Browser-safe: types and plain validation only.

/** Name of the constant every lazy chunk exports: the id of the build it belongs to. */
export const BUILD_ID_EXPORT = '__genModulesBuildId';

/** Version of the manifest layout; a reader refuses layouts it does not know. */
export const MANIFEST_VERSION = 1;

export interface ManifestChunk {
  /** Path relative to the output folder, forward slashes. */
  readonly file: string;
  readonly bytes: number;
  /** SRI value of the final bytes, `sha384-...`. */
  readonly integrity: string;
  /**
   * On a shared chunk (one that drivers and probe modules list in `imports`): the chunks it
   * imports statically, when it imports any. A loader without preloading (Node) imports a chunk
   * only after these: Node keeps a module whose static import failed failed for its URL, even
   * once the missing file is back.
   */
  readonly imports?: readonly string[];
}

export interface ManifestDriver {
  readonly kind: 'format' | 'protocol';
  readonly state: 'builtin' | 'module';
  /** The driver's own chunk (absent for builtins, which live in the entry chunk). */
  readonly chunk?: string;
  /** Shared chunks the driver's chunk imports statically (transitively), not already loaded by the entries. */
  readonly imports: readonly string[];
  /** Bytes a first load of the driver fetches: its chunk plus `imports` (0 for builtins). */
  readonly bytes: number;
  /** SRI value of the driver's chunk (absent for builtins). */
  readonly integrity?: string;
  /**
   * Stylesheets the driver's chunk and `imports` import (Vite's CSS code splitting), not already
   * loaded by the entries; in `chunks` with their SRI values. Absent when there are none.
   */
  readonly css?: readonly string[];
}

export interface ManifestProbe {
  readonly chunk: string;
  readonly imports: readonly string[];
  readonly bytes: number;
  readonly integrity: string;
  /** As for drivers. */
  readonly css?: readonly string[];
}

export interface BuildManifest {
  readonly version: number;
  /**
   * Hash over every chunk's name and content (before the build id itself was added to the lazy
   * chunks; a lazy chunk's content is stood for by the bundler's content hash in its name): two
   * builds with equal ids are the same build.
   */
  readonly buildId: string;
  /** 'esbuild', 'rollup' or 'vite'. */
  readonly bundler: string;
  /** Entry chunks (the application's own entry points). */
  readonly entries: readonly string[];
  /** Chunks the entries load statically. */
  readonly entryImports: readonly string[];
  /** Every driver of the build: `module` drivers with their chunks, `builtin` ones without. Disabled drivers are absent. */
  readonly drivers: Readonly<Record<string, ManifestDriver>>;
  /** Probe modules by their id in the table (source path relative to the config). */
  readonly probes: Readonly<Record<string, ManifestProbe>>;
  /** Every JavaScript chunk of the build, and the stylesheets that drivers and probes list in `css`. */
  readonly chunks: Readonly<Record<string, ManifestChunk>>;
}

/** A manifest that does not have the expected shape. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/**
 * Manifests parseManifest has checked: given one again (an application that parsed its manifest
 * hands it to createDriverRegistry, which checks what it is given), it is not walked twice.
 */
const checked = new WeakSet<object>();

/** Validates a parsed manifest (JSON text or value) and returns it typed; throws ManifestError. */
export function parseManifest(input: unknown, source = 'build manifest'): BuildManifest {
  if (typeof input === 'object' && input !== null && checked.has(input)) return input as BuildManifest;
  let value = input;
  if (typeof input === 'string') {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new ManifestError(`${source}: not JSON: ${(error as Error).message}`);
    }
  }
  const fail = (message: string): never => {
    throw new ManifestError(`${source}: ${message}`);
  };
  if (!isRecord(value)) return fail('not an object');
  if (value.version !== MANIFEST_VERSION) fail(`unknown version ${JSON.stringify(value.version)} (this runtime reads version ${MANIFEST_VERSION}); rebuild with the matching gen-modules`);
  if (typeof value.buildId !== 'string' || value.buildId === '') fail(`'buildId' must be a non-empty string`);
  const strings = (v: unknown, where: string) => {
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) fail(`${where} must be an array of strings`);
  };
  for (const key of ['drivers', 'probes', 'chunks'] as const) if (!isRecord(value[key])) fail(`'${key}' must be an object`);
  strings(value.entries, `'entries'`);
  strings(value.entryImports, `'entryImports'`);
  for (const [file, chunk] of Object.entries(value.chunks as Record<string, unknown>)) {
    if (!isRecord(chunk) || !Number.isSafeInteger(chunk.bytes) || (chunk.bytes as number) < 0) return fail(`chunks.${file}.bytes must be a whole number of bytes`);
    if (typeof chunk.integrity !== 'string') fail(`chunks.${file}.integrity must be a string`);
    if (chunk.imports !== undefined) strings(chunk.imports, `chunks.${file}.imports`);
  }
  for (const [name, driver] of Object.entries(value.drivers as Record<string, unknown>)) {
    if (!isRecord(driver)) return fail(`drivers.${name} must be an object`);
    if (driver.state !== 'builtin' && driver.state !== 'module') fail(`drivers.${name}.state must be "builtin" or "module"`);
    if (driver.state === 'module' && (typeof driver.chunk !== 'string' || driver.chunk === '')) fail(`drivers.${name}.chunk must be a non-empty string`);
    strings(driver.imports, `drivers.${name}.imports`);
    if (driver.css !== undefined) strings(driver.css, `drivers.${name}.css`);
  }
  for (const [id, probe] of Object.entries(value.probes as Record<string, unknown>)) {
    if (!isRecord(probe) || typeof probe.chunk !== 'string' || probe.chunk === '') return fail(`probes.${id}.chunk must be a non-empty string`);
    strings(probe.imports, `probes.${id}.imports`);
    if (probe.css !== undefined) strings(probe.css, `probes.${id}.css`);
  }
  checked.add(value);
  return value as unknown as BuildManifest;
}

/** A plain object (not null, not an array): what a JSON object parses to. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
