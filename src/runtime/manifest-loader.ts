// Loading lazy chunks through the build manifest: a driver's chunk and every shared chunk it needs
// are requested at once (no request waterfall), a failed load is retried once with the same URL,
// and a chunk of another build is refused.
// - Browsers: `<link rel="modulepreload" integrity="sha384-...">` for each chunk, all at once; once
//   they have loaded (integrity checked), import() of the driver chunk.
// - Node (and anything without a document): import() of all shared chunks in parallel, then of the
//   driver chunk (whose imports are then already loaded): two steps, however deep the imports.
// Browser-safe: the import function is injectable (tests, custom loaders); no node:* imports.
import { DriverError } from './driver-error.js';
import { BUILD_ID_EXPORT, type BuildManifest } from './manifest.js';

/** Imports one chunk by absolute URL and returns its module namespace. */
export type ChunkImporter = (url: string) => Promise<unknown>;

/**
 * How the shared chunks are fetched together with a driver's chunk:
 * - 'modulepreload': a `<link rel="modulepreload">` with the SRI integrity for each (browsers);
 * - 'parallel-import': import() of all shared chunks in parallel, then of the driver chunk (Node, workers);
 * - 'none': only import() the driver chunk (its imports are then discovered one level at a time);
 * - 'auto' (default): 'modulepreload' when there is a document, else 'parallel-import'.
 */
export type PreloadMode = 'auto' | 'modulepreload' | 'parallel-import' | 'none';

/** The part of the DOM the modulepreload path uses (injectable for tests). */
export interface PreloadDocument {
  createElement(tag: 'link'): {
    rel: string;
    href: string;
    integrity: string;
    crossOrigin: string | null;
    onload: ((event: unknown) => unknown) | null;
    onerror: ((event: unknown) => unknown) | null;
  };
  readonly head: { appendChild(node: never): unknown };
}

export interface ManifestLoaderOptions {
  manifest: BuildManifest;
  /** URL of the output folder the manifest's paths are relative to (e.g. `new URL('./', import.meta.url)`). */
  baseUrl: string | URL;
  /** Default: the engine's `import()`. */
  importChunk?: ChunkImporter;
  preload?: PreloadMode;
  /** `crossorigin` of the modulepreload links (needed with SRI for chunks on another origin). */
  crossOrigin?: 'anonymous' | 'use-credentials';
  /** Default: `globalThis.document`. */
  document?: PreloadDocument;
}

/** What a lazy chunk is, for messages: "format driver 'qcow2'", "probe module x.ts". */
export interface ChunkOwner {
  /** Driver name or probe module id (DriverError.driver). */
  name: string;
  /** Shown in messages. */
  describe: string;
}

export interface ManifestLoader {
  readonly manifest: BuildManifest;
  /** Absolute URL of a file of the build. */
  urlOf(file: string): string;
  /** The URLs a driver's first load requests: its chunk and its shared chunks. */
  driverUrls(name: string): { chunk: string; shared: string[] } | undefined;
  /** Loads a module driver's chunk; resolves to its module namespace; rejects with DriverError. */
  loadDriver(name: string, describe?: string): Promise<unknown>;
  /** Loads a probe module's chunk; resolves to its module namespace; rejects with DriverError. */
  loadProbe(id: string): Promise<unknown>;
}

const defaultImport: ChunkImporter = (url) => import(/* @vite-ignore */ /* webpackIgnore: true */ url);

export function createManifestLoader(options: ManifestLoaderOptions): ManifestLoader {
  const { manifest } = options;
  const base = new URL(String(options.baseUrl));
  const importChunk = options.importChunk ?? defaultImport;
  const doc = options.document ?? (globalThis as { document?: PreloadDocument }).document;
  const mode: Exclude<PreloadMode, 'auto'> =
    options.preload === undefined || options.preload === 'auto' ? (doc && typeof doc.createElement === 'function' ? 'modulepreload' : 'parallel-import') : options.preload;
  if (mode === 'modulepreload' && !doc) throw new TypeError(`gen-modules: preload 'modulepreload' needs a document`);
  const preloaded = new Map<string, Promise<void>>();
  const urlOf = (file: string) => new URL(file, base).href;

  /**
   * A modulepreload link per chunk (a stylesheet link per stylesheet), settled by its load or
   * error event. Chromium does not stop a later import() of a URL whose preload failed its
   * integrity check (it fetches again, unchecked), so the import waits for every link of the
   * driver and does not happen when one failed. A stylesheet applies once loaded, as Vite's own
   * preloading does for the CSS of a dynamic import.
   */
  function preloadLink(file: string, rel: 'modulepreload' | 'stylesheet'): Promise<void> {
    const href = urlOf(file);
    let done = preloaded.get(href);
    if (done) return done;
    done = new Promise<void>((resolve, reject) => {
      const link = doc!.createElement('link');
      link.rel = rel;
      const integrity = manifest.chunks[file]?.integrity;
      if (integrity) link.integrity = integrity;
      if (options.crossOrigin) link.crossOrigin = options.crossOrigin;
      link.onload = () => resolve();
      link.onerror = () => reject(new Error(`${rel} ${href} failed (network error, or its bytes do not match the manifest's integrity ${integrity ?? '(none)'})`));
      link.href = href;
      doc!.head.appendChild(link as never);
    });
    preloaded.set(href, done);
    // A failed preload is tried again with a new link on the next attempt.
    done.catch(() => preloaded.delete(href));
    return done;
  }

  /** One attempt: all chunks requested at once; rejects with the URL that failed first. */
  async function attempt(chunk: string, shared: readonly string[], css: readonly string[]): Promise<unknown> {
    const url = urlOf(chunk);
    if (mode === 'modulepreload') {
      const links = [...[...shared, chunk].map((file) => ({ file, rel: 'modulepreload' as const })), ...css.map((file) => ({ file, rel: 'stylesheet' as const }))];
      const settled = await Promise.allSettled(links.map((link) => preloadLink(link.file, link.rel)));
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed !== -1) throw new ChunkFailure(urlOf(links[failed]!.file), (settled[failed] as PromiseRejectedResult).reason, links[failed]!.rel === 'stylesheet');
      return importChunk(url).catch((error: unknown) => Promise.reject(new ChunkFailure(url, error)));
    }
    if (mode === 'parallel-import' && shared.length > 0) {
      // All shared chunks at once, then the driver chunk. Not the driver chunk in the same batch:
      // Node 20 keeps a module whose static import failed (a missing shared chunk) failed for its
      // URL even after the file is back, so the driver chunk is requested only once its imports
      // are in the module map; a missing shared chunk then costs no later load of the driver.
      const settled = await Promise.allSettled(shared.map((file) => importChunk(urlOf(file))));
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed !== -1) throw new ChunkFailure(urlOf(shared[failed]!), (settled[failed] as PromiseRejectedResult).reason);
    }
    return importChunk(url).catch((error: unknown) => Promise.reject(new ChunkFailure(url, error)));
  }

  async function load(owner: ChunkOwner, chunk: string, shared: readonly string[], css: readonly string[] = []): Promise<unknown> {
    const url = urlOf(chunk);
    let module: unknown;
    try {
      module = await attempt(chunk, shared, css);
    } catch {
      // A missing file or a dropped connection succeeds on a second try of the same URL; a broken
      // module fails again (engines cache its evaluation) and is reported with both URLs.
      try {
        module = await attempt(chunk, shared, css);
      } catch (error) {
        const failure = error as ChunkFailure;
        const via = failure.url === url ? '' : ` (${failure.stylesheet ? 'stylesheet' : 'shared chunk'} ${failure.url} failed)`;
        throw new DriverError(
          'load-failed',
          owner.name,
          `failed to load ${owner.describe} from chunk ${url}${via} after 2 attempts: ${messageOf(failure.cause)}`,
          url,
          { cause: failure.cause },
        );
      }
    }
    const id = (module as Record<string, unknown> | null)?.[BUILD_ID_EXPORT];
    if (id !== manifest.buildId) {
      throw new DriverError(
        'wrong-build',
        owner.name,
        `refusing ${owner.describe} from chunk ${url}: the chunk is from build ${typeof id === 'string' ? id : '(none: it carries no build id)'}, this build is ${manifest.buildId}`,
        url,
      );
    }
    return module;
  }

  return {
    manifest,
    urlOf,
    driverUrls(name) {
      const info = manifest.drivers[name];
      if (!info?.chunk) return undefined;
      return { chunk: urlOf(info.chunk), shared: info.imports.map(urlOf) };
    },
    loadDriver(name, describe = `driver '${name}'`) {
      const info = manifest.drivers[name];
      if (!info?.chunk) {
        return Promise.reject(new DriverError('not-available', name, `${describe} has no chunk in the build manifest (build ${manifest.buildId})`));
      }
      return load({ name, describe }, info.chunk, info.imports, info.css);
    },
    loadProbe(id) {
      const info = manifest.probes[id];
      if (!info) return Promise.reject(new DriverError('unknown-driver', id, `probe module ${id} is not in the build manifest (build ${manifest.buildId})`));
      return load({ name: id, describe: `probe module ${id}` }, info.chunk, info.imports, info.css);
    },
  };
}

class ChunkFailure {
  constructor(
    readonly url: string,
    readonly cause: unknown,
    readonly stylesheet = false,
  ) {}
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
