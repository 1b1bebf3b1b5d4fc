// The laziness guard: a `module` driver that an entry (or another lazy chunk) reaches through
// static imports would be bundled eagerly, silently (esbuild, rollup) or with a vague warning
// (Vite). The bundler's module graph tells us; this finds the shortest import chain and prints
// it, each step as file:line.
import { readFileSync } from 'node:fs';
import { relativePosix } from './shared.js';

/** A static import edge of the bundler's module graph (absolute paths). */
export interface ImportEdge {
  to: string;
  /** The specifier as written, when the bundler knows it (esbuild's metafile does). */
  specifier?: string;
}

export interface GuardGraph {
  /** Where loading starts eagerly: the application's entries. */
  entries: readonly string[];
  /** Other roots: lazy chunks, which must not pull in a different lazy driver either. */
  lazyRoots: readonly string[];
  /** Static imports only (import statements, require calls): absolute paths. */
  edges(file: string): readonly ImportEdge[];
}

export interface ChainStep {
  /** The importing file (absolute). */
  file: string;
  /** 1-based line of the import in `file`'s source (0 when it could not be found). */
  line: number;
  column: number;
  /** The imported file (absolute). */
  to: string;
  specifier?: string;
}

export interface GuardViolation {
  driver: string;
  /** The driver's source file (absolute). */
  file: string;
  /** From an entry (or another lazy chunk) to the driver. */
  chain: ChainStep[];
  /** The root the chain starts at and what it is. */
  root: { file: string; kind: 'entry' | 'lazy' };
}

/**
 * Every module driver reachable through static imports: from an entry, or from a lazy chunk other
 * than the driver's own. One violation per driver, with the shortest chain (entries first).
 */
export function findViolations(
  graph: GuardGraph,
  drivers: ReadonlyMap<string, string>,
  lineOf: (importer: string, to: string, specifier?: string) => { line: number; column: number; specifier?: string } = lineOfImport,
): GuardViolation[] {
  const found = new Map<string, GuardViolation>();
  const roots = [...graph.entries.map((file) => ({ file, kind: 'entry' as const })), ...graph.lazyRoots.map((file) => ({ file, kind: 'lazy' as const }))];
  for (const root of roots) {
    // Breadth-first from this root, remembering how each file was reached.
    const parent = new Map<string, { from: string; edge: ImportEdge } | null>([[root.file, null]]);
    const queue = [root.file];
    for (let i = 0; i < queue.length; i++) {
      const file = queue[i]!;
      for (const edge of graph.edges(file)) {
        if (parent.has(edge.to)) continue;
        parent.set(edge.to, { from: file, edge });
        const driver = drivers.get(edge.to);
        // A lazy root is the driver's own chunk: importing itself is not a violation.
        if (driver !== undefined && edge.to !== root.file) {
          if (!found.has(edge.to)) found.set(edge.to, { driver, file: edge.to, chain: chainTo(edge.to, parent, lineOf), root });
          continue; // Past a violation the chain is already long enough to act on.
        }
        queue.push(edge.to);
      }
    }
  }
  return [...found.values()];
}

function chainTo(
  target: string,
  parent: Map<string, { from: string; edge: ImportEdge } | null>,
  lineOf: (importer: string, to: string, specifier?: string) => { line: number; column: number; specifier?: string },
): ChainStep[] {
  const steps: ChainStep[] = [];
  let at = target;
  for (let step = parent.get(at); step; step = parent.get(at)) {
    const where = lineOf(step.from, step.edge.to, step.edge.specifier);
    steps.unshift({ file: step.from, line: where.line, column: where.column, to: step.edge.to, specifier: where.specifier ?? step.edge.specifier });
    at = step.from;
  }
  return steps;
}

/**
 * The message: the chain, each step `file:line: import 'specifier'`, and what to do. `driverFile`
 * names the driver as the configuration found it (the bundler may name it by a real path).
 */
export function formatViolation(violation: GuardViolation, cwd: string, driverFile?: string): string {
  const rel = (file: string) => relativePosix(cwd, file);
  const from = violation.root.kind === 'entry' ? 'an entry' : `the lazy chunk of ${rel(violation.root.file)}`;
  const lines = [
    `module driver '${violation.driver}' (${driverFile ?? rel(violation.file)}) is reachable from ${from} through static imports, so it would be bundled there instead of in its own chunk:`,
    ...violation.chain.map((s) => `  ${rel(s.file)}:${s.line || '?'}: import ${JSON.stringify(s.specifier ?? rel(s.to))}${s.to === violation.file ? '' : ` (${rel(s.to)})`}`),
    `Load it through the driver registry (registry.load('${violation.driver}')), import only its helper modules, use \`import type\` for types, or make it builtin in the gen-modules config ("states": { "${violation.driver}": "builtin" }).`,
  ];
  return lines.join('\n');
}

const sourceCache = new Map<string, string | undefined>();

function sourceOf(file: string): string | undefined {
  if (!sourceCache.has(file)) {
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = undefined;
    }
    sourceCache.set(file, text);
  }
  return sourceCache.get(file);
}

/** Line `line` (1-based) of `file`, for a code frame; '' when unknown. */
export function lineTextOf(file: string, line: number): string {
  return sourceOf(file)?.split(/\r?\n/)[line - 1] ?? '';
}

/** Forget cached sources (between watch rebuilds). */
export function clearGuardSourceCache(): void {
  sourceCache.clear();
}

/**
 * The line of the import of `to` in `importer`'s source. With the specifier (esbuild) it searches
 * for that quoted string in an import/export/require; without (rollup, Vite) it tries every static
 * specifier of the file whose path, with TypeScript's extension mapping, names `to`.
 */
export function lineOfImport(importer: string, to: string, specifier?: string): { line: number; column: number; specifier?: string } {
  const source = sourceOf(importer);
  if (source === undefined) return { line: 0, column: 0, specifier };
  const imports = staticSpecifiers(source);
  const match =
    (specifier !== undefined ? imports.find((i) => i.specifier === specifier) : undefined) ??
    imports.find((i) => specifierNames(i.specifier, importer, to));
  return match ? { line: match.line, column: match.column, specifier: match.specifier } : { line: 0, column: 0, specifier };
}

interface FoundSpecifier {
  specifier: string;
  line: number;
  column: number;
}

/** Static import/export-from/require specifiers with their 1-based positions; `import type` skipped. */
export function staticSpecifiers(source: string): FoundSpecifier[] {
  const found: FoundSpecifier[] = [];
  const code = blankComments(source);
  const pattern =
    /\b(import|export)\s+(type\s+)?(?:[\w$*{}\s,]*?\s+from\s*)?(['"])([^'"\n]+)\3|\brequire\s*\(\s*(['"])([^'"\n]+)\5\s*\)/g;
  for (let m = pattern.exec(code); m; m = pattern.exec(code)) {
    if (m[2]) continue; // `import type ... from`: erased, not an edge.
    const specifier = m[4] ?? m[6]!;
    const at = m.index + m[0].lastIndexOf(specifier) - 1;
    const before = source.slice(0, at);
    const line = before.split('\n').length;
    found.push({ specifier, line, column: at - before.lastIndexOf('\n') });
  }
  return found;
}

/** Comments replaced by spaces (newlines kept), so positions stay. Strings are left alone. */
function blankComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (c) => c.replace(/[^\n]/g, ' '));
}

/** Whether a relative specifier in `importer` names the file `to` (`./x.js` for x.ts and so on). */
function specifierNames(specifier: string, importer: string, to: string): boolean {
  if (!specifier.startsWith('.')) return false;
  const dir = importer.slice(0, importer.lastIndexOf('/') + 1);
  const target = normalize(dir + specifier);
  const strip = (p: string) => p.replace(/\.(?:[cm]?[jt]sx?)$/, '');
  return target === to || strip(target) === strip(to) || `${target}/index` === strip(to);
}

function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.') out.push(part);
  }
  return out.join('/');
}
