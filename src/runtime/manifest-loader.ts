// Loading lazy chunks through the build manifest: a driver's chunk and every shared chunk it needs
// are requested at once (no request waterfall), a failed load is retried once with the same URL,
// and a chunk of another build is refused. A driver's own chunk is requested with the build id in
// its URL (lazyUrlOf).
// - Browsers: `<link rel="modulepreload" integrity="sha384-...">` for each chunk, all at once; once
//   they have loaded (integrity checked), import() of the driver chunk.
// - Node (and anything without a document): import() of the shared chunks in parallel, level by
//   level of their imports among themselves (the manifest's `chunks[].imports`), then of the driver
//   chunk: a chunk is requested once the chunks it imports have loaded. Node 20 keeps a module
//   whose static import failed failed for its URL, even once the missing file is back; requested
//   this way, a missing chunk fails alone and the next attempt can succeed.
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
  /**
   * Absolute URL of the output folder the manifest's paths are relative to, e.g.
   * `new URL('./', import.meta.url)`. Resolved as URLs are: a folder's URL ends with '/' (without
   * it, the paths resolve against the folder above).
   */
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
  /** Absolute URL of a file of the build (a driver's or probe module's own chunk is requested with `?build=<build id>` added). */
  urlOf(file: string): string;
  /** The URLs a driver's first load requests: its chunk (with the build id) and its shared chunks. */
  driverUrls(name: string): { chunk: string; shared: string[] } | undefined;
  /**
   * Loads a module driver's chunk (`name`: its key in the manifest); resolves to its module
   * namespace; rejects with DriverError. `owner`: how errors name the driver (a description, or
   * the driver's own name and description: another registry's `serial` is keyed `charDriver:serial`).
   */
  loadDriver(name: string, owner?: string | ChunkOwner): Promise<unknown>;
  /** Loads a probe module's chunk; resolves to its module namespace; rejects with DriverError. */
  loadProbe(id: string): Promise<unknown>;
}

const defaultImport: ChunkImporter = (url) => import(/* @vite-ignore */ /* webpackIgnore: true */ url);

export function createManifestLoader(options: ManifestLoaderOptions): ManifestLoader {
  const { manifest } = options;
  const base = absoluteUrl(options.baseUrl);
  const importChunk = options.importChunk ?? defaultImport;
  const doc = options.document ?? (globalThis as { document?: PreloadDocument }).document;
  const mode: Exclude<PreloadMode, 'auto'> =
    options.preload === undefined || options.preload === 'auto' ? (doc && typeof doc.createElement === 'function' ? 'modulepreload' : 'parallel-import') : options.preload;
  if (mode === 'modulepreload' && !doc) throw new TypeError(`gen-modules: preload 'modulepreload' needs a document`);
  const preloaded = new Map<string, Promise<void>>();
  const urlOf = (file: string) => new URL(file, base).href;
  /**
   * A lazy chunk's URL carries the build id as a query: the chunk's bytes carry it (every build
   * has its own), while its name follows its code only (the bundler's hash, taken before the id
   * was added). Under the name alone, an HTTP cache still holding the chunk of an earlier build
   * (hashed names invite `immutable` caching; browsers cache heuristically without it) would
   * answer with bytes that fail the integrity check or the build id, on every retry; and a Node
   * process that loads a newer manifest would get its module map's instance of the old chunk.
   * Shared chunks do not carry the id: their names stand for their bytes.
   */
  const lazyUrlOf = (file: string) => {
    const url = new URL(file, base);
    url.searchParams.set('build', manifest.buildId);
    return url.href;
  };

  /**
   * A modulepreload link per chunk (a stylesheet link per stylesheet), settled by its load or
   * error event. Chromium does not stop a later import() of a URL whose preload failed its
   * integrity check (it fetches again, unchecked), so the import waits for every link of the
   * driver and does not happen when one failed. A stylesheet applies once loaded, as Vite's own
   * preloading does for the CSS of a dynamic import.
   */
  function preloadLink(file: string, href: string, rel: 'modulepreload' | 'stylesheet'): Promise<void> {
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

  /** One attempt: all chunks requested at once (`url`: the chunk's, lazyUrlOf); rejects with the URL that failed first. */
  async function attempt(chunk: string, url: string, shared: readonly string[], css: readonly string[]): Promise<unknown> {
    if (mode === 'modulepreload') {
      const links = [
        ...shared.map((file) => ({ file, href: urlOf(file), rel: 'modulepreload' as const })),
        { file: chunk, href: url, rel: 'modulepreload' as const },
        ...css.map((file) => ({ file, href: urlOf(file), rel: 'stylesheet' as const })),
      ];
      const settled = await Promise.allSettled(links.map((link) => preloadLink(link.file, link.href, link.rel)));
      const failed = settled.findIndex((s) => s.status === 'rejected');
      if (failed !== -1) throw new ChunkFailure(links[failed]!.href, (settled[failed] as PromiseRejectedResult).reason, links[failed]!.rel === 'stylesheet');
      return importChunk(url).catch((error: unknown) => Promise.reject(new ChunkFailure(url, error)));
    }
    if (mode === 'parallel-import') {
      // Each level at once; the driver chunk last (see the top of this file).
      for (const level of importLevels(shared)) {
        const settled = await Promise.allSettled(level.map((file) => importChunk(urlOf(file))));
        const failed = settled.findIndex((s) => s.status === 'rejected');
        if (failed !== -1) throw new ChunkFailure(urlOf(level[failed]!), (settled[failed] as PromiseRejectedResult).reason);
      }
    }
    return importChunk(url).catch((error: unknown) => Promise.reject(new ChunkFailure(url, error)));
  }

  /**
   * `shared` in levels: a chunk comes after the chunks among `shared` that it imports (the
   * manifest's `chunks[].imports`); when none is ready (chunks importing each other in a cycle),
   * the rest share one level.
   */
  function importLevels(shared: readonly string[]): string[][] {
    const rest = new Set(shared);
    const levels: string[][] = [];
    while (rest.size > 0) {
      const ready = [...rest].filter((file) => !(manifest.chunks[file]?.imports ?? []).some((dep) => dep !== file && rest.has(dep)));
      const level = ready.length > 0 ? ready : [...rest];
      for (const file of level) rest.delete(file);
      levels.push(level);
    }
    return levels;
  }

  async function load(owner: ChunkOwner, chunk: string, shared: readonly string[], css: readonly string[] = []): Promise<unknown> {
    const url = lazyUrlOf(chunk);
    let module: unknown;
    try {
      module = await attempt(chunk, url, shared, css);
    } catch {
      // A missing file or a dropped connection succeeds on a second try of the same URL; a broken
      // module fails again (engines cache its evaluation) and is reported with both URLs.
      try {
        module = await attempt(chunk, url, shared, css);
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
      return { chunk: lazyUrlOf(info.chunk), shared: info.imports.map(urlOf) };
    },
    loadDriver(name, owner) {
      const who: ChunkOwner = typeof owner === 'object' ? owner : { name, describe: owner ?? `driver '${name}'` };
      const info = manifest.drivers[name];
      if (!info?.chunk) {
        return Promise.reject(new DriverError('not-available', who.name, `${who.describe} has no chunk in the build manifest (build ${manifest.buildId})`));
      }
      return load(who, info.chunk, info.imports, info.css);
    },
    loadProbe(id) {
      const info = manifest.probes[id];
      if (!info) return Promise.reject(new DriverError('unknown-driver', id, `probe module ${id} is not in the build manifest (build ${manifest.buildId})`));
      return load({ name: id, describe: `probe module ${id}` }, info.chunk, info.imports, info.css);
    },
  };
}

function absoluteUrl(baseUrl: string | URL): URL {
  try {
    return new URL(String(baseUrl));
  } catch {
    throw new TypeError(`gen-modules: baseUrl must be an absolute URL of the folder the manifest's chunk paths are relative to, such as new URL('./', import.meta.url) (got ${JSON.stringify(String(baseUrl))})`);
  }
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
