// One parsed module and its top-level names: what it imports, exports and declares. Built from
// the syntax tree alone (no type checker): enough to follow constants and decorators across files.
import { ts, type T } from './typescript.js';

export interface ImportBinding {
  specifier: string;
  /** The exported name it imports, 'default', or '*' for a namespace import. */
  imported: string;
  node: T.Node;
}

export type ExportBinding =
  /** `export const x`, `export { x }`, `export { x as y }`: a name of this module's scope. */
  | { kind: 'local'; local: string; node: T.Node }
  /** `export { x } from './m'` (imported '*' for `export * as ns from`). */
  | { kind: 'reexport'; specifier: string; imported: string; node: T.Node }
  /** `export default <expression>`. */
  | { kind: 'expression'; expression: T.Expression; node: T.Node };

export type LocalDeclaration =
  | {
      kind: 'variable';
      flavour: 'const' | 'let' | 'var';
      /** `declare const` or a declaration file: the value may be only a type. */
      ambient: boolean;
      initializer: T.Expression | undefined;
      type: T.TypeNode | undefined;
      /** Destructuring: where the name sits inside the initializer's value. */
      path: readonly (string | number)[];
      node: T.Node;
    }
  | { kind: 'enum'; declaration: T.EnumDeclaration; node: T.Node }
  | { kind: 'function' | 'class' | 'namespace'; node: T.Node };

export interface ModuleInfo {
  /** Absolute path. */
  path: string;
  /** Display path: relative to the config folder, forward slashes. */
  file: string;
  text: string;
  source: T.SourceFile;
  syntaxErrors: readonly T.Diagnostic[];
  declarationFile: boolean;
  imports: Map<string, ImportBinding>;
  exports: Map<string, ExportBinding>;
  /** `export * from` specifiers, in order. */
  starExports: string[];
  locals: Map<string, LocalDeclaration[]>;
}

export function parseModule(path: string, file: string, text: string): ModuleInfo {
  let source: T.SourceFile;
  let syntaxErrors: readonly T.Diagnostic[];
  try {
    source = parseSource(path, text);
    syntaxErrors = (source as unknown as { parseDiagnostics?: T.Diagnostic[] }).parseDiagnostics ?? [];
  } catch (error) {
    // The parser recurses once per level of nesting: a file nested thousands deep overflows the
    // stack (tsc itself crashes on it). Reported as the file's syntax error, scanned as empty.
    if (!(error instanceof RangeError)) throw error;
    source = parseSource(path, '');
    syntaxErrors = [{ category: ts.DiagnosticCategory.Error, code: 0, file: undefined, start: 0, length: 1, messageText: 'the file nests too deeply to parse (the parser ran out of stack)' }];
  }
  const info: ModuleInfo = {
    path,
    file,
    text,
    source,
    syntaxErrors,
    declarationFile: source.isDeclarationFile,
    imports: new Map(),
    exports: new Map(),
    starExports: [],
    locals: declarationsOf(source.statements, source.isDeclarationFile),
  };
  collectModuleBindings(info);
  return info;
}

/**
 * A fast parse: no parent pointers and no JSDoc (the scanner needs neither). The script kind
 * follows the extension, so `.js` files parse as JavaScript and `.tsx` as TSX.
 */
export function parseSource(path: string, text: string): T.SourceFile {
  const kind = /\.[cm]?tsx$/.test(path)
    ? ts.ScriptKind.TSX
    : /\.[cm]?jsx$/.test(path)
      ? ts.ScriptKind.JSX
      : /\.[cm]?js$/.test(path)
        ? ts.ScriptKind.JS
        : ts.ScriptKind.TS;
  return ts.createSourceFile(path, text, { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone }, false, kind);
}

function hasModifier(node: T.Node, kind: T.SyntaxKind): boolean {
  return ts.canHaveModifiers(node) && (ts.getModifiers(node) ?? []).some((m) => m.kind === kind);
}

const nameText = (name: T.ModuleExportName | T.Identifier) => name.text;

function collectModuleBindings(info: ModuleInfo): void {
  for (const statement of info.source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      if (!clause || clause.isTypeOnly || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
      const specifier = statement.moduleSpecifier.text;
      if (clause.name) info.imports.set(clause.name.text, { specifier, imported: 'default', node: clause.name });
      const bindings = clause.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) info.imports.set(bindings.name.text, { specifier, imported: '*', node: bindings.name });
      if (bindings && ts.isNamedImports(bindings)) {
        for (const element of bindings.elements) {
          if (element.isTypeOnly) continue;
          info.imports.set(element.name.text, { specifier, imported: nameText(element.propertyName ?? element.name), node: element });
        }
      }
      continue;
    }
    if (ts.isExportDeclaration(statement)) {
      if (statement.isTypeOnly) continue;
      const specifier = statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier) ? statement.moduleSpecifier.text : undefined;
      const clause = statement.exportClause;
      if (!clause) {
        if (specifier !== undefined) info.starExports.push(specifier);
      } else if (ts.isNamespaceExport(clause)) {
        if (specifier !== undefined) info.exports.set(nameText(clause.name), { kind: 'reexport', specifier, imported: '*', node: clause });
      } else {
        for (const element of clause.elements) {
          if (element.isTypeOnly) continue;
          const exported = nameText(element.name);
          const local = nameText(element.propertyName ?? element.name);
          info.exports.set(
            exported,
            specifier !== undefined ? { kind: 'reexport', specifier, imported: local, node: element } : { kind: 'local', local, node: element },
          );
        }
      }
      continue;
    }
    if (ts.isExportAssignment(statement)) {
      if (statement.isExportEquals) continue;
      const expression = statement.expression;
      info.exports.set(
        'default',
        ts.isIdentifier(expression) ? { kind: 'local', local: expression.text, node: statement } : { kind: 'expression', expression, node: statement },
      );
      continue;
    }
    if (!hasModifier(statement, ts.SyntaxKind.ExportKeyword)) continue;
    const isDefault = hasModifier(statement, ts.SyntaxKind.DefaultKeyword);
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) {
        for (const name of boundNames(declaration.name)) info.exports.set(name, { kind: 'local', local: name, node: declaration });
      }
    } else if (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement)) {
      const name = statement.name && (ts.isIdentifier(statement.name) || ts.isStringLiteral(statement.name)) ? statement.name.text : undefined;
      if (isDefault) info.exports.set('default', { kind: 'local', local: name ?? '*default*', node: statement });
      else if (name !== undefined) info.exports.set(name, { kind: 'local', local: name, node: statement });
    }
  }
}

/** Top-level (or block-level) declarations of a statement list, by name. */
export function declarationsOf(statements: readonly T.Statement[], declarationFile = false): Map<string, LocalDeclaration[]> {
  const locals = new Map<string, LocalDeclaration[]>();
  const add = (name: string, declaration: LocalDeclaration) => {
    const list = locals.get(name);
    if (list) list.push(declaration);
    else locals.set(name, [declaration]);
  };
  for (const statement of statements) {
    if (ts.isVariableStatement(statement)) {
      const flags = statement.declarationList.flags;
      const flavour = flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
      const ambient = declarationFile || hasModifier(statement, ts.SyntaxKind.DeclareKeyword);
      for (const declaration of statement.declarationList.declarations) {
        for (const [name, path] of boundPaths(declaration.name)) {
          add(name, { kind: 'variable', flavour, ambient, initializer: declaration.initializer, type: declaration.type, path, node: declaration });
        }
      }
    } else if (ts.isEnumDeclaration(statement)) {
      add(statement.name.text, { kind: 'enum', declaration: statement, node: statement });
    } else if (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement)) {
      const kind = ts.isFunctionDeclaration(statement) ? 'function' : 'class';
      add(statement.name?.text ?? '*default*', { kind, node: statement });
    } else if (ts.isModuleDeclaration(statement) && ts.isIdentifier(statement.name)) {
      add(statement.name.text, { kind: 'namespace', node: statement });
    }
  }
  return locals;
}

/** Names a binding pattern declares. */
export function boundNames(name: T.BindingName): string[] {
  return boundPaths(name).map(([n]) => n);
}

/** Names a binding pattern declares, each with its path inside the value (`const { a: [b] } = x`: b at ['a', 0]). */
function boundPaths(name: T.BindingName, path: (string | number)[] = []): [string, (string | number)[]][] {
  if (ts.isIdentifier(name)) return [[name.text, path]];
  const out: [string, (string | number)[]][] = [];
  name.elements.forEach((element, index) => {
    if (ts.isOmittedExpression(element)) return;
    // Rest elements and defaults are not plain paths: mark them with an impossible key.
    const plain = !element.dotDotDotToken && !element.initializer;
    let key: string | number = index;
    if (ts.isObjectBindingPattern(name)) {
      const prop = element.propertyName ?? element.name;
      key = ts.isIdentifier(prop) || ts.isStringLiteral(prop) || ts.isNumericLiteral(prop) ? prop.text : '\u0000computed';
    }
    out.push(...boundPaths(element.name, [...path, plain ? key : '\u0000not-plain']));
  });
  return out;
}
