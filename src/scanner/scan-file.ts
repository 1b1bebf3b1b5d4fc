// One source file: parse it, find our decorators on classes, evaluate their arguments.
// The decorator is recognised by where it is imported from, not by its spelling: a local
// `blockDriver` from another package is not ours, and `import { blockDriver as bd }` is.
import { ts } from 'ts-morph';
import type { ConstValue, SourceLocation } from '../model.js';
import { diagnostics as d, type At } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { evaluateConstant, type IdentifierResolver } from './evaluate.js';

/** The module specifiers our decorators come from. */
export const RUNTIME_MODULES = ['gen-modules/runtime'] as const;

/** A decorated class as found in one file, before cross-file validation. */
export interface FoundDecorator {
  /** The decorator's exported name in the runtime ('blockDriver'). */
  decorator: string;
  file: string;
  className: string;
  exportName: string;
  exported: boolean;
  /** The evaluated options object, or undefined when evaluation failed (diagnostics say why). */
  options: { [key: string]: ConstValue } | undefined;
  /** Where each top-level option key is, for precise diagnostics. */
  optionLocations: Record<string, At>;
  location: SourceLocation;
  at: At;
}

export interface FileScan {
  found: FoundDecorator[];
  diagnostics: Diagnostic[];
}

export function parseSource(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
}

export function at(source: ts.SourceFile, node: ts.Node, file: string): At {
  const start = node.getStart(source);
  const { line, character } = source.getLineAndCharacterOfPosition(start);
  return { file, line: line + 1, column: character + 1, length: Math.max(1, node.getEnd() - start) };
}

/**
 * Scan one file's text. `file` is the display path used in diagnostics. `decoratorNames` are the
 * runtime exports that count (`blockDriver`, plus any registries the config declares).
 */
export function scanFile(file: string, text: string, decoratorNames: readonly string[] = ['blockDriver']): FileScan {
  const source = parseSource(file, text);
  const diagnostics: Diagnostic[] = [];
  const parseErrors = (source as unknown as { parseDiagnostics?: ts.Diagnostic[] }).parseDiagnostics ?? [];
  for (const error of parseErrors) {
    const pos = source.getLineAndCharacterOfPosition(error.start ?? 0);
    diagnostics.push(
      d.syntaxError(
        { file, line: pos.line + 1, column: pos.character + 1, length: error.length ?? 1 },
        ts.flattenDiagnosticMessageText(error.messageText, '\n'),
      ),
    );
  }
  if (parseErrors.length > 0) return { found: [], diagnostics };

  const imports = runtimeImports(source);
  const resolver = sameFileResolver(source);
  const found: FoundDecorator[] = [];

  const visit = (node: ts.Node): void => {
    if (ts.isClassDeclaration(node) || ts.isClassExpression(node)) {
      for (const modifier of ts.getDecorators(node) ?? []) {
        const name = decoratorName(modifier.expression, imports);
        if (name === undefined || !decoratorNames.includes(name)) continue;
        found.push(...readDecorator(source, file, node, modifier, name, resolver, diagnostics));
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { found, diagnostics };
}

interface RuntimeImports {
  /** Local identifier -> runtime export name. */
  named: Map<string, string>;
  /** Local namespace identifiers (`import * as gm from 'gen-modules/runtime'`). */
  namespaces: Set<string>;
}

function runtimeImports(source: ts.SourceFile): RuntimeImports {
  const named = new Map<string, string>();
  const namespaces = new Set<string>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    if (!(RUNTIME_MODULES as readonly string[]).includes(statement.moduleSpecifier.text)) continue;
    const clause = statement.importClause;
    if (!clause || clause.isTypeOnly) continue;
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) namespaces.add(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) {
      for (const element of bindings.elements) {
        if (element.isTypeOnly) continue;
        named.set(element.name.text, (element.propertyName ?? element.name).text);
      }
    }
  }
  return { named, namespaces };
}

function decoratorName(expression: ts.Expression, imports: RuntimeImports): string | undefined {
  const callee = ts.isCallExpression(expression) ? expression.expression : expression;
  if (ts.isIdentifier(callee)) return imports.named.get(callee.text);
  if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && imports.namespaces.has(callee.expression.text)) {
    return callee.name.text;
  }
  return undefined;
}

function readDecorator(
  source: ts.SourceFile,
  file: string,
  cls: ts.ClassDeclaration | ts.ClassExpression,
  decorator: ts.Decorator,
  name: string,
  resolver: IdentifierResolver,
  diagnostics: Diagnostic[],
): FoundDecorator[] {
  const where = at(source, decorator, file);
  const call = decorator.expression;
  const modifiers = ts.canHaveModifiers(cls) ? (ts.getModifiers(cls) ?? []) : [];
  const exported = ts.isClassDeclaration(cls) && modifiers.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const isDefault = modifiers.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword);
  const className = cls.name?.text ?? 'default';
  const exportedByList = !exported && ts.isClassDeclaration(cls) && cls.name ? exportListName(source, cls.name.text) : undefined;
  const base = {
    decorator: name,
    file,
    className,
    exportName: isDefault ? 'default' : (exportedByList ?? className),
    exported: exported || exportedByList !== undefined,
    optionLocations: {} as Record<string, At>,
    location: { file, line: where.line, column: where.column },
    at: where,
  };
  if (!ts.isCallExpression(call) || call.arguments.length !== 1 || !ts.isObjectLiteralExpression(skipOuter(call.arguments[0]!))) {
    // One object literal, so that each option has a place to point at. A const holding the whole
    // object would hide the places of its keys from every diagnostic.
    diagnostics.push(d.badArguments(where, name));
    return [{ ...base, options: undefined }];
  }
  const literal = skipOuter(call.arguments[0]!) as ts.ObjectLiteralExpression;
  for (const property of literal.properties) {
    if (property.name && (ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))) {
      base.optionLocations[property.name.text] = at(source, property, file);
    }
  }
  const result = evaluateConstant(literal, resolver);
  if (!result.ok) {
    diagnostics.push(d.notConstant(at(source, result.failure.node, file), optionPath(literal, result.failure.node), result.failure.why));
    return [{ ...base, options: undefined }];
  }
  return [{ ...base, options: result.value as { [key: string]: ConstValue } }];
}

function skipOuter(node: ts.Expression): ts.Expression {
  while (ts.isParenthesizedExpression(node) || ts.isAsExpression(node) || ts.isSatisfiesExpression(node)) node = node.expression;
  return node;
}

/** "option 'probe'" for the top-level key that contains `node`. */
function optionPath(literal: ts.ObjectLiteralExpression, node: ts.Node): string {
  for (const property of literal.properties) {
    if (node.pos >= property.pos && node.end <= property.end && property.name && ts.isIdentifier(property.name)) {
      return `option '${property.name.text}'`;
    }
  }
  return 'the decorator argument';
}

/** `class X {}` ... `export { X }` or `export { X as Y }`. */
function exportListName(source: ts.SourceFile, local: string): string | undefined {
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement) || statement.moduleSpecifier || !statement.exportClause) continue;
    if (!ts.isNamedExports(statement.exportClause)) continue;
    for (const element of statement.exportClause.elements) {
      if ((element.propertyName ?? element.name).text === local) return element.name.text;
    }
  }
  return undefined;
}

/** Same-file `const` declarations and enum members. */
function sameFileResolver(source: ts.SourceFile): IdentifierResolver {
  const consts = new Map<string, ts.VariableDeclaration>();
  const lets = new Map<string, string>();
  const enums = new Map<string, ts.EnumDeclaration>();
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      const isConst = (statement.declarationList.flags & ts.NodeFlags.Const) !== 0;
      for (const declaration of statement.declarationList.declarations) {
        if (!ts.isIdentifier(declaration.name)) continue;
        if (isConst && declaration.initializer) consts.set(declaration.name.text, declaration);
        else lets.set(declaration.name.text, isConst ? 'a const without a value' : `'${declaration.name.text}' is declared with 'let' or 'var' and may change`);
      }
    } else if (ts.isEnumDeclaration(statement)) {
      enums.set(statement.name.text, statement);
    }
  }
  const resolve: IdentifierResolver = (node) => {
    if (ts.isIdentifier(node)) {
      const declaration = consts.get(node.text);
      if (declaration?.initializer) return { expression: declaration.initializer, resolve };
      const why = lets.get(node.text);
      if (why) return { why };
      if (isParameter(node)) return { why: `'${node.text}' is a parameter` };
      return undefined;
    }
    if (ts.isIdentifier(node.expression)) {
      const decl = enums.get(node.expression.text);
      if (decl) return enumMember(decl, node.name.text, resolve);
    }
    return undefined;
  };
  return resolve;
}

function enumMember(decl: ts.EnumDeclaration, member: string, resolve: IdentifierResolver): ReturnType<IdentifierResolver> {
  let nextValue = 0;
  for (const m of decl.members) {
    const name = m.name.getText();
    let value: ConstValue = nextValue;
    if (m.initializer) {
      const evaluated = evaluateConstant(m.initializer, resolve);
      if (!evaluated.ok) return { why: `enum member ${decl.name.text}.${name} is not constant` };
      value = evaluated.value;
    }
    if (name === member) return { value };
    nextValue = typeof value === 'number' ? value + 1 : NaN;
  }
  return { why: `enum ${decl.name.text} has no member '${member}'` };
}

function isParameter(node: ts.Identifier): boolean {
  for (let p: ts.Node | undefined = node.parent; p; p = p.parent) {
    if (ts.isFunctionLike(p) && p.parameters.some((param) => ts.isIdentifier(param.name) && param.name.text === node.text)) return true;
  }
  return false;
}
