// The registry an application builds from its generated table: look drivers up by name, load
// them on first use (or on a user's command), list them with their state, choose a protocol by
// filename prefix and probe an image's format without loading any format driver.
import type { DriverKind, DriverState, ProbeData } from '../model.js';
import { DriverError } from './driver-error.js';
import { parseManifest, type BuildManifest } from './manifest.js';
import { createManifestLoader, type ChunkImporter, type ManifestLoader, type PreloadMode } from './manifest-loader.js';
import { probeWithIndex, type ProbeIndex, type ProbeModule, type ProbeResult } from './probe.js';
import { registeredClass } from './registered.js';

export { DriverError, type DriverErrorCode } from './driver-error.js';

export interface DriverTableEntry<N extends string = string> {
  readonly name: N;
  readonly kind: DriverKind;
  readonly state: DriverState;
  /** Source file relative to the config root. */
  readonly source: string;
  readonly exportName: string;
  readonly prefixes: readonly string[];
  /** The options the driver takes when an image is opened, as declared (absent: none). */
  readonly openOptions?: readonly string[];
  /** Absent for disabled drivers. */
  readonly load?: () => Promise<unknown>;
}

export interface DriverTable<N extends string = string> {
  readonly registry: string;
  readonly drivers: readonly DriverTableEntry<N>[];
  readonly probeModules: Readonly<Record<string, () => Promise<unknown>>>;
  readonly probeIndex: ProbeIndex;
}

/** Identity with types; generated tables call it so that a table is checked where it is written. */
export function defineDriverTable<N extends string>(table: DriverTable<N>): DriverTable<N> {
  return table;
}

export type LoadStatus = 'builtin' | 'not-loaded' | 'loading' | 'loaded' | 'failed' | 'unavailable';

export interface DriverStatus {
  name: string;
  kind: DriverKind;
  state: DriverState;
  status: LoadStatus;
  /** The chunk the driver is loaded from (from the build manifest when known, else its source). */
  chunk: string;
  prefixes: readonly string[];
  /** The options the driver takes when an image is opened (its `openOptions`). */
  openOptions: readonly string[];
}

export interface RegistryOptions {
  /**
   * The chunk file of a driver in this build, for messages and reports (default: from `manifest`
   * when given, else the driver's source file).
   */
  chunkOf?: (name: string) => string | undefined;
  /**
   * The build manifest (`gen-modules-manifest.json`, see `parseManifest`). With it, module drivers
   * and probe modules are loaded from their chunk URLs: all chunks of a driver at once, one retry,
   * chunks of another build refused. Without it, the table's own `import()`s are used.
   */
  manifest?: BuildManifest;
  /** Absolute URL of the folder the manifest's chunk paths are relative to (ending with '/'); required with `manifest`. */
  baseUrl?: string | URL;
  /** How a chunk URL is imported (default: `import()`); for custom loaders and tests. */
  importChunk?: ChunkImporter;
  /** How shared chunks are fetched with a driver's chunk (default 'auto', see PreloadMode). */
  preload?: PreloadMode;
  /** Called once per module driver after its first successful load, in load order. */
  onLoad?: (name: string) => void;
}

export interface DriverRegistry<N extends string = string> {
  readonly table: DriverTable<N>;
  /** Load a driver (once) and return its decorated class. */
  load<T = unknown>(name: N | (string & {})): Promise<T>;
  /** Load several drivers at once, in parallel. */
  preload(names: readonly (N | (string & {}))[]): Promise<void>;
  list(): DriverStatus[];
  /** Names of the drivers whose chunks this registry loaded, in load order (builtins excluded). */
  loadedDrivers(): string[];
  /** The protocol whose prefix starts `filename` (longest prefix wins). */
  findProtocol(filename: string): { name: N; prefix: string } | undefined;
  /** Decide an image's format from its bytes; loads at most the probe modules whose guard held. */
  probe(data: ProbeData): Promise<ProbeResult>;
}

/** What a driver is called in messages: format or protocol for block drivers, else its registry. */
const noun = (registry: string, kind: DriverKind | undefined) => (registry !== 'blockDriver' ? registry : kind === 'protocol' ? 'protocol' : 'format');

export function createDriverRegistry<N extends string>(table: DriverTable<N>, options: RegistryOptions = {}): DriverRegistry<N> {
  const byName = new Map<string, DriverTableEntry<N>>(table.drivers.map((d) => [d.name, d]));
  const status = new Map<string, LoadStatus>();
  const pending = new Map<string, Promise<unknown>>();
  const loadOrder: string[] = [];
  const probeModules = new Map<string, Promise<ProbeModule>>();
  if (options.manifest && options.baseUrl === undefined) {
    throw new TypeError('createDriverRegistry: a build manifest needs `baseUrl`, the URL of the folder its chunk paths are relative to');
  }
  // Checked here too (once: parseManifest does not walk a manifest it already checked): one passed
  // as plain JSON.parse output of the wrong shape fails now with a ManifestError naming the field,
  // not later inside a load.
  const manifest = options.manifest && parseManifest(options.manifest);
  const loader: ManifestLoader | undefined = manifest
    ? createManifestLoader({ manifest, baseUrl: options.baseUrl!, importChunk: options.importChunk, preload: options.preload })
    : undefined;
  // Block drivers are keyed by name in the manifest, other registries' by `registry:name`.
  const key = (name: string) => (table.registry === 'blockDriver' ? name : `${table.registry}:${name}`);
  const manifestChunk = (name: string) => manifest?.drivers[key(name)]?.chunk;
  const chunkOf = (entry: DriverTableEntry<N>) => (options.chunkOf ?? manifestChunk)(entry.name) ?? entry.source;

  const initialStatus = (entry: DriverTableEntry<N>): LoadStatus =>
    entry.state === 'disabled' ? 'unavailable' : entry.state === 'builtin' ? 'builtin' : 'not-loaded';

  async function importOnce(entry: DriverTableEntry<N>): Promise<unknown> {
    status.set(entry.name, 'loading');
    const describe = `${noun(table.registry, entry.kind)} driver '${entry.name}'`;
    try {
      if (loader && entry.state === 'module' && loader.manifest.drivers[key(entry.name)]?.chunk) {
        await loader.loadDriver(key(entry.name), { name: entry.name, describe });
      } else {
        await loadWithRetry(entry.load!, entry.name, describe, chunkOf(entry));
      }
    } catch (error) {
      status.set(entry.name, 'failed');
      throw error;
    }
    const chunk = loader?.driverUrls(key(entry.name))?.chunk ?? chunkOf(entry);
    const registered = registeredClass(table.registry, entry.name);
    if (!registered) {
      status.set(entry.name, 'failed');
      throw new DriverError('not-registered', entry.name, `chunk ${chunk} loaded but did not register ${noun(table.registry, entry.kind)} driver '${entry.name}' (is @${table.registry} still on ${entry.exportName}?)`, chunk);
    }
    status.set(entry.name, entry.state === 'builtin' ? 'builtin' : 'loaded');
    // Once per driver, after its status is set: a hook that throws fails this load() call (the
    // caller sees its error), not the registry's record of the load; a later load() of the
    // driver resolves without calling the hook again.
    if (entry.state === 'module' && !loadOrder.includes(entry.name)) {
      loadOrder.push(entry.name);
      options.onLoad?.(entry.name);
    }
    return registered.target;
  }

  const registry: DriverRegistry<N> = {
    table,
    async load<T>(name: string): Promise<T> {
      const entry = byName.get(name);
      if (!entry) {
        const known = table.drivers.filter((d) => d.state !== 'disabled').map((d) => d.name);
        throw new DriverError('unknown-driver', name, `unknown driver '${name}' (this build has: ${known.join(', ') || 'none'})`);
      }
      if (entry.state === 'disabled' || !entry.load) {
        throw new DriverError('not-available', name, `${noun(table.registry, entry.kind)} ${name} is not available in this build`);
      }
      let promise = pending.get(name);
      if (!promise) {
        promise = importOnce(entry);
        pending.set(name, promise);
        // A failed load leaves the registry usable: the next request tries again.
        promise.catch(() => pending.delete(name));
      }
      return (await promise) as T;
    },
    async preload(names) {
      await Promise.all(names.map((name) => registry.load(name)));
    },
    list() {
      return table.drivers.map((entry) => ({
        name: entry.name,
        kind: entry.kind,
        state: entry.state,
        status: status.get(entry.name) ?? initialStatus(entry),
        chunk: entry.state === 'disabled' ? '' : chunkOf(entry),
        prefixes: entry.prefixes,
        openOptions: entry.openOptions ?? [],
      }));
    },
    loadedDrivers: () => [...loadOrder],
    findProtocol(filename) {
      let best: { name: N; prefix: string } | undefined;
      for (const entry of table.drivers) {
        if (entry.kind !== 'protocol') continue;
        for (const prefix of entry.prefixes) {
          if (filename.startsWith(prefix) && (!best || prefix.length > best.prefix.length)) best = { name: entry.name, prefix };
        }
      }
      return best;
    },
    probe(data) {
      return probeWithIndex(table.probeIndex, data, (id) => {
        let module = probeModules.get(id);
        if (!module) {
          const load = table.probeModules[id];
          if (!load) return Promise.reject(new DriverError('unknown-driver', id, `probe module ${id} is not in this build`));
          const loaded = loader?.manifest.probes[id] ? loader.loadProbe(id) : loadWithRetry(load, id, `probe module ${id}`, id);
          module = loaded.then((m) => {
            const decide = (m as { default?: unknown }).default;
            if (typeof decide !== 'function') throw new DriverError('not-registered', id, `probe module ${id} has no default export function`);
            return decide as ProbeModule;
          });
          probeModules.set(id, module);
          module.catch(() => probeModules.delete(id));
        }
        return module;
      });
    },
  };
  return registry;
}

/** The table's own import(), retried once: a missing file or a dropped connection succeeds on a second try. */
async function loadWithRetry(load: () => Promise<unknown>, name: string, describe: string, chunk: string): Promise<unknown> {
  try {
    return await load();
  } catch {
    try {
      return await load();
    } catch (error) {
      // A broken module fails again (engines cache its evaluation): report it with the chunk.
      throw new DriverError('load-failed', name, `failed to load ${describe} from chunk ${chunk} after 2 attempts: ${messageOf(error)}`, chunk, { cause: error });
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
