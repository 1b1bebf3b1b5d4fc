// One source file: find our decorators on classes, evaluate their arguments. A decorator is
// recognised by where it comes from, not by its spelling: imported from `gen-modules/runtime`
// under any local name or as a namespace (`gm.blockDriver`), re-exported by the application's own
// modules (any chain of `export { } from` / `export *`, renames included), or made by the
// runtime's `createDriverDecorator('charDriver', [...])`. A `blockDriver` from anywhere else is
// not ours and is ignored.
import { posix } from 'node:path';
import type { ConstValue, SourceLocation } from '../model.js';
import { diagnostics as d, type At } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { ConstantEvaluator } from './evaluate.js';
import { memoryFileSystem } from './file-system.js';
import { ModuleGraph, type Binding } from './module-graph.js';
import { declarationsOf, parseModule, type ModuleInfo } from './module-info.js';
import { ModuleResolver, RUNTIME_MODULE } from './module-resolver.js';
import { NO_PATHS } from './tsconfig-paths.js';
import { loadTypeScript, ts, type T } from './typescript.js';

/** The module specifiers our decorators come from. */
export const RUNTIME_MODULES = [RUNTIME_MODULE] as const;

/** A decorated class as found in one file, before cross-file validation. */
export interface FoundDecorator {
  /** The registry: 'blockDriver', or the name given to createDriverDecorator. */
  decorator: string;
  file: string;
  className: string;
  exportName: string;
  exported: boolean;
  /** The evaluated options object, or undefined when evaluation failed (diagnostics say why). */
  options: { [key: string]: ConstValue } | undefined;
  /** Where each top-level option key is, for precise diagnostics. */
  optionLocations: Record<string, At>;
  /** Where nested literal values are, by path: `probe.match[1].at`. */
  valueLocations: Record<string, At>;
  /** For createDriverDecorator registries: the key fields its call names (when constant). */
  declaredKeys?: string[];
  location: SourceLocation;
  at: At;
}

export interface FileScan {
  found: FoundDecorator[];
  diagnostics: Diagnostic[];
}

export function at(source: T.SourceFile, node: T.Node, file: string): At {
  const start = node.getStart(source);
  const { line, character } = source.getLineAndCharacterOfPosition(start);
  return { file, line: line + 1, column: character + 1, length: Math.max(1, node.getEnd() - start) };
}

/** The first syntax error of a file: the ones after it are mostly the parser recovering. */
export function syntaxDiagnostics(module: ModuleInfo): Diagnostic[] {
  return module.syntaxErrors.slice(0, 1).map((error) => {
    const pos = module.source.getLineAndCharacterOfPosition(error.start ?? 0);
    return d.syntaxError(
      { file: module.file, line: pos.line + 1, column: pos.character + 1, length: error.length ?? 1 },
      ts.flattenDiagnosticMessageText(error.messageText, '\n'),
    );
  });
}

/**
 * Scan one file's text on its own (imports of other files do not resolve). `decoratorNames`
 * limits the registries reported (default: all).
 */
export function scanFile(file: string, text: string, decoratorNames?: readonly string[]): FileScan {
  loadTypeScript();
  const path = posix.resolve('/', file);
  const fs = memoryFileSystem({ [path]: text });
  const graph = new ModuleGraph(fs, new ModuleResolver(fs, NO_PATHS), () => file);
  const module = parseModule(path, file, text);
  const result = scanModule(module, graph);
  if (decoratorNames) result.found = result.found.filter((f) => decoratorNames.includes(f.decorator));
  return result;
}

/** Scan a parsed module: syntax errors, then every class decorator that is ours. */
export function scanModule(module: ModuleInfo, graph: ModuleGraph): FileScan {
  const diagnostics = syntaxDiagnostics(module);
  if (diagnostics.length > 0) return { found: [], diagnostics };
  const found: FoundDecorator[] = [];
  const text = module.text;
  // Only subtrees that contain an '@' can hold a decorator: skip the rest of the tree.
  const ats: number[] = [];
  for (let i = text.indexOf('@'); i >= 0; i = text.indexOf('@', i + 1)) ats.push(i);
  const hasAt = (node: T.Node) => {
    let lo = 0;
    let hi = ats.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ats[mid]! < node.pos) lo = mid + 1;
      else hi = mid;
    }
    return lo < ats.length && ats[lo]! < node.end;
  };
  const ancestors: T.Node[] = [];
  const evaluator = new ConstantEvaluator(graph);
  const visit = (node: T.Node): void => {
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      const decorators = ts.getDecorators(node);
      if (decorators) {
        for (const decorator of decorators) {
          const scopes = ancestors.filter(isScope);
          const kind = identify(decorator.expression, module, graph, evaluator, scopes);
          if (!kind) continue;
          if ('error' in kind) {
            diagnostics.push(kind.error);
            continue;
          }
          found.push(readDecorator(module, node, ancestors, decorator, kind, evaluator, scopes, diagnostics));
        }
      }
    }
    ancestors.push(node);
    ts.forEachChild(node, (child) => {
      if (hasAt(child)) visit(child);
    });
    ancestors.pop();
  };
  visit(module.source);
  return { found, diagnostics };
}

function isScope(node: T.Node): boolean {
  return (
    ts.isFunctionLike(node) ||
    ts.isBlock(node) ||
    ts.isModuleBlock(node) ||
    ts.isForStatement(node) ||
    ts.isForOfStatement(node) ||
    ts.isForInStatement(node) ||
    ts.isCatchClause(node)
  );
}

type Kind = { registry: string; keys?: string[] } | { error: Diagnostic };

/** Whether a decorator expression is one of ours, and which registry. */
function identify(expression: T.Expression, module: ModuleInfo, graph: ModuleGraph, evaluator: ConstantEvaluator, scopes: readonly T.Node[]): Kind | undefined {
  let callee = ts.isCallExpression(expression) ? expression.expression : expression;
  while (ts.isParenthesizedExpression(callee)) callee = callee.expression;
  const binding = entityOf(callee, module, graph, scopes);
  if (!binding) return undefined;
  if (binding.kind === 'runtime') return binding.name === 'blockDriver' ? { registry: 'blockDriver' } : undefined;
  if (binding.kind !== 'local') return undefined;
  // `const charDriver = createDriverDecorator('charDriver', ['name'])`, possibly in another file.
  const declaration = binding.declarations[0]!;
  if (declaration.kind !== 'variable' || declaration.flavour !== 'const' || !declaration.initializer || declaration.path.length > 0) return undefined;
  let init = declaration.initializer;
  while (ts.isParenthesizedExpression(init) || ts.isAsExpression(init) || ts.isSatisfiesExpression(init)) init = init.expression;
  if (!ts.isCallExpression(init)) return undefined;
  const factory = entityOf(init.expression, binding.module, graph, []);
  if (factory?.kind !== 'runtime' || factory.name !== 'createDriverDecorator') return undefined;
  const where = at(module.source, expression, module.file);
  const registryArg = init.arguments[0];
  const registry = registryArg ? evaluator.evaluate(registryArg, binding.module) : undefined;
  if (!registry?.ok || typeof registry.value !== 'string') {
    return { error: d.notConstant(where, `the registry name given to createDriverDecorator for @${binding.name}`, registry && !registry.ok ? registry.failure.why : 'it must be a string') };
  }
  const keysArg = init.arguments[1];
  const keys = keysArg ? evaluator.evaluate(keysArg, binding.module) : undefined;
  const keyList = keys?.ok && Array.isArray(keys.value) && keys.value.every((k) => typeof k === 'string') ? (keys.value as string[]) : undefined;
  return { registry: registry.value, ...(keyList ? { keys: keyList } : {}) };
}

/**
 * What an identifier or `a.b` chain in a decorator refers to. Follows the application's own
 * modules only: a third-party package's `blockDriver` is not ours, whatever it re-exports.
 */
function entityOf(node: T.Expression, module: ModuleInfo, graph: ModuleGraph, scopes: readonly T.Node[]): Binding | undefined {
  if (ts.isIdentifier(node)) {
    for (let i = scopes.length - 1; i >= 0; i--) {
      const scope = scopes[i]!;
      if (ts.isFunctionLike(scope) && scope.parameters.some((p) => ts.isIdentifier(p.name) && p.name.text === node.text)) return undefined;
      const statements = ts.isBlock(scope) || ts.isModuleBlock(scope) ? scope.statements : undefined;
      const declarations = statements && declarationsOf(statements).get(node.text);
      if (declarations) return { kind: 'local', module, name: node.text, declarations };
    }
    if (!module.locals.has(node.text) && !module.imports.has(node.text)) return undefined;
    return graph.resolveName(module, node.text, { external: false });
  }
  if (ts.isPropertyAccessExpression(node)) {
    const outer = entityOf(node.expression, module, graph, scopes);
    if (outer?.kind === 'runtime-namespace') return { kind: 'runtime', name: node.name.text };
    if (outer?.kind === 'namespace') return graph.resolveExport(outer.module, node.name.text, { external: false });
  }
  return undefined;
}

function readDecorator(
  module: ModuleInfo,
  cls: T.ClassDeclaration | T.ClassExpression,
  ancestors: readonly T.Node[],
  decorator: T.Decorator,
  kind: { registry: string; keys?: string[] },
  evaluator: ConstantEvaluator,
  scopes: readonly T.Node[],
  diagnostics: Diagnostic[],
): FoundDecorator {
  const { source, file } = module;
  const name = kind.registry;
  const where = at(source, decorator, file);
  const call = decorator.expression;
  const exportInfo = classExport(module, cls, ancestors);
  const base = {
    decorator: name,
    file,
    ...exportInfo,
    optionLocations: {} as Record<string, At>,
    valueLocations: {} as Record<string, At>,
    ...(kind.keys ? { declaredKeys: kind.keys } : {}),
    location: { file, line: where.line, column: where.column },
    at: where,
  };
  const argument = ts.isCallExpression(call) && call.arguments.length === 1 ? skipOuter(call.arguments[0]!) : undefined;
  if (!argument || !ts.isObjectLiteralExpression(argument)) {
    // One object literal, so that each option has a place to point at. A const holding the whole
    // object would hide the places of its keys from every diagnostic.
    diagnostics.push(d.badArguments(where, name));
    return { ...base, options: undefined };
  }
  for (const property of argument.properties) {
    if (property.name && (ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))) {
      base.optionLocations[property.name.text] = at(source, property, file);
    }
  }
  recordLocations(argument, '', module, base.valueLocations);
  const result = evaluator.evaluate(argument, module, scopes);
  if (!result.ok) {
    const failure = result.failure;
    diagnostics.push(
      d.notConstant(at(source, failure.node, file), optionPath(argument, failure.node), failure.why, failure.related ? [failure.related] : []),
    );
    return { ...base, options: undefined };
  }
  return { ...base, options: result.value as { [key: string]: ConstValue } };
}

/** Locations of the literal values inside the decorator argument, by path. */
function recordLocations(node: T.Expression, path: string, module: ModuleInfo, out: Record<string, At>): void {
  node = skipOuter(node);
  if (ts.isObjectLiteralExpression(node)) {
    for (const property of node.properties) {
      if (!ts.isPropertyAssignment(property) || !(ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))) continue;
      const inner = path ? `${path}.${property.name.text}` : property.name.text;
      out[inner] = at(module.source, property, module.file);
      recordLocations(property.initializer, inner, module, out);
    }
  } else if (ts.isArrayLiteralExpression(node)) {
    node.elements.forEach((element, i) => {
      if (ts.isSpreadElement(element)) return;
      const inner = `${path}[${i}]`;
      out[inner] = at(module.source, element, module.file);
      recordLocations(element, inner, module, out);
    });
  }
}

/** The class's name and how the module exports it. */
function classExport(module: ModuleInfo, cls: T.ClassDeclaration | T.ClassExpression, ancestors: readonly T.Node[]): { className: string; exportName: string; exported: boolean } {
  let topLevel = ancestors.length === 1;
  const modifiers = ts.getModifiers(cls) ?? [];
  const has = (k: T.SyntaxKind) => modifiers.some((m) => m.kind === k);
  let local = cls.name?.text;
  if (ts.isClassDeclaration(cls)) {
    if (topLevel && has(ts.SyntaxKind.ExportKeyword)) {
      const isDefault = has(ts.SyntaxKind.DefaultKeyword);
      return { className: local ?? 'default', exportName: isDefault ? 'default' : local!, exported: true };
    }
  } else {
    // `export const X = @dec class {}` or `export default @dec class {}` as an expression.
    const parent = ancestors[ancestors.length - 1];
    const statement = ancestors[ancestors.length - 3];
    if (parent && ts.isExportAssignment(parent) && ancestors.length === 2) return { className: local ?? 'default', exportName: 'default', exported: true };
    if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name) && statement && ts.isVariableStatement(statement) && ancestors.length === 4) {
      local = parent.name.text;
      topLevel = true;
    } else return { className: local ?? '(anonymous class)', exportName: local ?? 'default', exported: false };
  }
  const className = local ?? 'default';
  if (!topLevel || local === undefined) return { className, exportName: className, exported: false };
  for (const [exported, binding] of module.exports) {
    if (binding.kind === 'local' && binding.local === local) return { className, exportName: exported, exported: true };
  }
  return { className, exportName: className, exported: false };
}

function skipOuter(node: T.Expression): T.Expression {
  while (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node)) node = node.expression;
  return node;
}

/** "option 'probe'" for the top-level key that contains `node`. */
function optionPath(literal: T.ObjectLiteralExpression, node: T.Node): string {
  for (const property of literal.properties) {
    if (node.pos >= property.pos && node.end <= property.end && property.name && (ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))) {
      return `option '${property.name.text}'`;
    }
  }
  return 'the decorator argument';
}
