// Constant evaluation of decorator arguments. Only what the compiler could fold is accepted:
// literals, consts (same file, imported by name, renamed, through re-exports, barrels and tsconfig
// paths), enum and const enum members, `as const`/`satisfies`/parentheses, template literals without
// substitutions, arithmetic and bit operations on numbers, arrays and objects of these. Anything
// else is a failure that points at the expression in the decorator and says why, with the place
// of the real culprit when it is elsewhere ("declared with 'let' here").
import type { RelatedLocation } from '../diagnostics/diagnostic.js';
import type { ConstValue } from '../model.js';
import * as runtime from '../runtime/index.js';
import type { Binding, ModuleGraph } from './module-graph.js';
import { declarationsOf, type LocalDeclaration, type ModuleInfo } from './module-info.js';
import { ts, type T } from './typescript.js';

export interface EvalFailure {
  module: ModuleInfo;
  node: T.Node;
  why: string;
  /** Where the real cause is, when not at `node`. */
  related?: RelatedLocation;
  /** The message already tells the whole story (a cycle): inner hops add nothing. */
  complete?: boolean;
}

export type EvalResult = { ok: true; value: ConstValue } | { ok: false; failure: EvalFailure };

/** Numeric constants `gen-modules/runtime` exports (DEFINITE_SCORE, PROBE_BUFFER_SIZE, RAW_SCORE). */
const RUNTIME_CONSTANTS: Readonly<Record<string, ConstValue>> = Object.fromEntries(
  Object.entries(runtime).filter(([, value]) => typeof value === 'number' || typeof value === 'string'),
) as Record<string, ConstValue>;

const ok = (value: ConstValue): EvalResult => ({ ok: true, value });

/** Where an expression is evaluated: its module, enclosing local scopes, and an enum being built. */
interface Context {
  module: ModuleInfo;
  /** Enclosing function and block scopes, innermost last (only at the decorator's own site). */
  scopes: readonly T.Node[];
  enumMembers?: Map<string, ConstValue>;
  /** The decorator's own argument (failures end up here, told from this point of view). */
  top?: boolean;
}

const MAX_DEPTH = 200;

export class ConstantEvaluator {
  /** Declarations being evaluated, for cycle detection: `path#name`. */
  private readonly active: string[] = [];
  private readonly enums = new Map<string, { members: Map<string, ConstValue>; done: boolean }>();
  private depth = 0;

  constructor(private readonly graph: ModuleGraph) {}

  /** Evaluate an expression of `module`; `scopes` are the enclosing scopes of the decorator. */
  evaluate(node: T.Expression, module: ModuleInfo, scopes: readonly T.Node[] = []): EvalResult {
    return this.expression(node, { module, scopes, top: true });
  }

  private fail(ctx: Context, node: T.Node, why: string): EvalResult {
    return { ok: false, failure: { module: ctx.module, node, why } };
  }

  private expression(node: T.Expression, ctx: Context): EvalResult {
    if (++this.depth > MAX_DEPTH) {
      this.depth--;
      return this.fail(ctx, node, 'the constant nests too deeply');
    }
    try {
      return this.evaluateNode(node, ctx);
    } finally {
      this.depth--;
    }
  }

  private evaluateNode(node: T.Expression, ctx: Context): EvalResult {
    const next = (expression: T.Expression) => this.expression(expression, ctx);
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return ok(node.text);
    if (ts.isNumericLiteral(node)) {
      // 1e400 is Infinity: refused as `2 ** 1024` is (JSON, and so the table, would say null).
      const value = Number(node.text);
      return Number.isFinite(value) ? ok(value) : this.fail(ctx, node, `the number ${node.getText(ctx.module.source)} is ${value}, not a finite number`);
    }
    if (ts.isBigIntLiteral(node)) return ok(String(BigInt(node.text.slice(0, -1))));
    if (node.kind === ts.SyntaxKind.TrueKeyword) return ok(true);
    if (node.kind === ts.SyntaxKind.FalseKeyword) return ok(false);
    if (node.kind === ts.SyntaxKind.NullKeyword) return ok(null);
    if (ts.isParenthesizedExpression(node) || ts.isNonNullExpression(node)) return next(node.expression);
    if (ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isTypeAssertionExpression(node)) return next(node.expression);
    if (ts.isTemplateExpression(node)) return this.template(node, ctx);
    if (ts.isArrayLiteralExpression(node)) return this.array(node, ctx);
    if (ts.isObjectLiteralExpression(node)) return this.object(node, ctx);
    if (ts.isPrefixUnaryExpression(node)) return this.unary(node, ctx);
    if (ts.isBinaryExpression(node)) return this.binary(node, ctx);
    if (ts.isIdentifier(node)) return this.identifier(node, ctx);
    if (ts.isPropertyAccessExpression(node)) return this.property(node, ctx);
    if (ts.isElementAccessExpression(node)) {
      const target = next(node.expression);
      if (!target.ok) return target;
      const index = next(node.argumentExpression);
      if (!index.ok) return index;
      if (typeof index.value !== 'string' && typeof index.value !== 'number') return this.fail(ctx, node.argumentExpression, 'an index that is not a string or number');
      return this.member(target.value, String(index.value), node, ctx);
    }
    return this.fail(ctx, node, describe(node));
  }

  private template(node: T.TemplateExpression, ctx: Context): EvalResult {
    // `${A}-${B}` of constant strings and numbers folds like the compiler folds it.
    let text = node.head.text;
    for (const span of node.templateSpans) {
      const part = this.expression(span.expression, ctx);
      if (!part.ok) return part;
      if (typeof part.value !== 'string' && typeof part.value !== 'number' && typeof part.value !== 'boolean') {
        return this.fail(ctx, span.expression, 'a template substitution that is not a string, number or boolean');
      }
      text += String(part.value) + span.literal.text;
    }
    return ok(text);
  }

  private array(node: T.ArrayLiteralExpression, ctx: Context): EvalResult {
    const items: ConstValue[] = [];
    for (const element of node.elements) {
      if (ts.isSpreadElement(element)) {
        const spread = this.expression(element.expression, ctx);
        if (!spread.ok) return spread;
        if (!Array.isArray(spread.value)) return this.fail(ctx, element, 'a spread of something that is not an array');
        items.push(...(spread.value as ConstValue[]));
        continue;
      }
      if (ts.isOmittedExpression(element)) return this.fail(ctx, element, 'an array with a hole');
      const item = this.expression(element, ctx);
      if (!item.ok) return item;
      items.push(item.value);
    }
    return ok(items);
  }

  private object(node: T.ObjectLiteralExpression, ctx: Context): EvalResult {
    const object: Record<string, ConstValue> = {};
    for (const property of node.properties) {
      if (ts.isSpreadAssignment(property)) {
        const spread = this.expression(property.expression, ctx);
        if (!spread.ok) return spread;
        if (typeof spread.value !== 'object' || spread.value === null || Array.isArray(spread.value)) {
          return this.fail(ctx, property, 'a spread of something that is not an object');
        }
        // As a spread copies them: an own '__proto__' key stays a key (Object.assign would run the
        // prototype setter with it).
        for (const [key, value] of Object.entries(spread.value)) defineOwn(object, key, value);
        continue;
      }
      if (ts.isShorthandPropertyAssignment(property)) {
        const value = this.identifier(property.name, ctx);
        if (!value.ok) return value;
        defineOwn(object, property.name.text, value.value);
        continue;
      }
      if (!ts.isPropertyAssignment(property)) {
        return this.fail(ctx, property, ts.isMethodDeclaration(property) ? 'a method is a function, not a constant' : 'an accessor runs code');
      }
      const name = property.name;
      let key: string;
      if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) key = name.text;
      else if (ts.isComputedPropertyName(name)) {
        const computed = this.expression(name.expression, ctx);
        if (!computed.ok) return computed;
        if (typeof computed.value !== 'string' && typeof computed.value !== 'number') return this.fail(ctx, name, 'a computed key that is not a string or number');
        key = String(computed.value);
      } else return this.fail(ctx, name, 'a private name');
      const value = this.expression(property.initializer, ctx);
      if (!value.ok) return value;
      defineOwn(object, key, value.value);
    }
    return ok(object);
  }

  private unary(node: T.PrefixUnaryExpression, ctx: Context): EvalResult {
    const operand = this.expression(node.operand, ctx);
    if (!operand.ok) return operand;
    if (node.operator === ts.SyntaxKind.ExclamationToken) return ok(!operand.value);
    if (typeof operand.value !== 'number') return this.fail(ctx, node, `'${ts.tokenToString(node.operator)}' on something that is not a number`);
    switch (node.operator) {
      case ts.SyntaxKind.MinusToken:
        return ok(-operand.value);
      case ts.SyntaxKind.PlusToken:
        return ok(operand.value);
      case ts.SyntaxKind.TildeToken:
        return ok(~operand.value);
      default:
        return this.fail(ctx, node, `the operator '${ts.tokenToString(node.operator)}' changes a variable`);
    }
  }

  private binary(node: T.BinaryExpression, ctx: Context): EvalResult {
    const op = node.operatorToken.kind;
    if (op === ts.SyntaxKind.CommaToken || (op >= ts.SyntaxKind.FirstAssignment && op <= ts.SyntaxKind.LastAssignment)) {
      return this.fail(ctx, node, op === ts.SyntaxKind.CommaToken ? 'a comma expression' : 'an assignment changes a variable');
    }
    const left = this.expression(node.left, ctx);
    if (!left.ok) return left;
    const right = this.expression(node.right, ctx);
    if (!right.ok) return right;
    const a = left.value;
    const b = right.value;
    if (op === ts.SyntaxKind.PlusToken && (typeof a === 'string' || typeof b === 'string')) {
      if ((typeof a === 'string' || typeof a === 'number') && (typeof b === 'string' || typeof b === 'number')) return ok(String(a) + String(b));
    }
    if (typeof a !== 'number' || typeof b !== 'number') return this.fail(ctx, node, `'${ts.tokenToString(op)}' on something that is not a number`);
    const value = arithmetic(op, a, b);
    if (value === undefined) return this.fail(ctx, node.operatorToken, `the operator '${ts.tokenToString(op)}' is not allowed in a constant`);
    if (!Number.isFinite(value)) return this.fail(ctx, node, `the result is ${value}, not a finite number`);
    return ok(value);
  }

  private identifier(node: T.Identifier, ctx: Context): EvalResult {
    const name = node.text;
    const member = ctx.enumMembers?.get(name);
    if (member !== undefined) return ok(member);
    const binding = this.lookup(name, ctx);
    if (binding === undefined) {
      if (name === 'undefined') return this.fail(ctx, node, "'undefined' (leave the option out instead)");
      if (name === 'NaN' || name === 'Infinity') return this.fail(ctx, node, `'${name}' is not a finite number`);
      return this.fail(ctx, node, `'${name}' is not declared in this file or imported (a global is not a constant)`);
    }
    if ('why' in binding) return this.fail(ctx, node, binding.why);
    return this.follow(node, `'${name}'`, binding.binding, ctx, binding.origin);
  }

  /** A name as seen from `ctx`: local scopes first (innermost first), then the module. */
  private lookup(name: string, ctx: Context): { binding: Binding; origin?: string } | { why: string } | undefined {
    for (let i = ctx.scopes.length - 1; i >= 0; i--) {
      const scope = ctx.scopes[i]!;
      if (ts.isFunctionLike(scope) && scope.parameters.some((p) => bindsName(p.name, name))) return { why: `'${name}' is a parameter, known only when the code runs` };
      if ((ts.isForOfStatement(scope) || ts.isForInStatement(scope) || ts.isForStatement(scope)) && scope.initializer && ts.isVariableDeclarationList(scope.initializer)) {
        if (scope.initializer.declarations.some((d) => bindsName(d.name, name))) return { why: `'${name}' is a loop variable` };
      }
      if (ts.isCatchClause(scope) && scope.variableDeclaration && bindsName(scope.variableDeclaration.name, name)) return { why: `'${name}' is a caught error` };
      const statements = ts.isBlock(scope) || ts.isModuleBlock(scope) ? scope.statements : undefined;
      const declarations = statements && declarationsOf(statements).get(name);
      if (declarations) {
        return { binding: { kind: 'local', module: ctx.module, name, declarations }, origin: undefined };
      }
    }
    const imported = ctx.module.imports.get(name);
    const binding = this.graph.resolveName(ctx.module, name, { external: true });
    if (binding.kind === 'unresolved' && !imported && !ctx.module.locals.has(name)) return undefined;
    return { binding, ...(imported ? { origin: `imported from '${imported.specifier}'` } : {}) };
  }

  /** Evaluates what a name is bound to; failures elsewhere are reported at `node`, with the cause as related. */
  private follow(node: T.Node, label: string, binding: Binding, ctx: Context, origin?: string): EvalResult {
    const result = this.binding(binding, node, ctx);
    if (result.ok) return result;
    const failure = result.failure;
    if (failure.node === node && failure.module === ctx.module) return result;
    if (failure.complete && !ctx.top) return result;
    const hop = origin ? `${label} (${origin})` : label;
    const related = failure.related ?? { ...locationOf(failure.module, failure.node), message: failure.why };
    // "'X' is declared with 'let'" reads better than "'X' -> 'X' is declared with 'let'".
    const why = failure.why.startsWith(`${label} `) ? hop + failure.why.slice(label.length) : `${hop} -> ${failure.why}`;
    return { ok: false, failure: { module: ctx.module, node, why, related } };
  }

  private binding(binding: Binding, node: T.Node, ctx: Context): EvalResult {
    switch (binding.kind) {
      case 'unresolved':
        return this.fail(ctx, node, binding.why);
      case 'runtime':
        return binding.name in RUNTIME_CONSTANTS ? ok(RUNTIME_CONSTANTS[binding.name]!) : this.fail(ctx, node, `'${binding.name}' from gen-modules/runtime is not a constant`);
      case 'runtime-namespace':
      case 'namespace':
        return this.fail(ctx, node, 'a module namespace is not a constant (use one of its exports)');
      case 'expression':
        return this.guarded(binding.module, 'default', node, ctx, () => this.expression(binding.expression, { module: binding.module, scopes: [] }));
      case 'local':
        return this.declaration(binding.module, binding.name, binding.declarations, node, binding.module === ctx.module ? ctx : { module: binding.module, scopes: [] });
    }
  }

  private guarded(module: ModuleInfo, name: string, node: T.Node, ctx: Context, evaluate: () => EvalResult): EvalResult {
    const key = `${module.path}#${name}`;
    const at = this.active.indexOf(key);
    if (at >= 0) {
      const names = [...this.active.slice(at), key].map((k) => {
        const [path, ...rest] = k.split('#');
        return `'${rest.join('#')}' (${this.graph.display(path!)})`;
      });
      return { ok: false, failure: { module: ctx.module, node, why: `a cycle: ${names.join(' -> ')}`, complete: true } };
    }
    this.active.push(key);
    try {
      return evaluate();
    } finally {
      this.active.pop();
    }
  }

  private declaration(module: ModuleInfo, name: string, declarations: LocalDeclaration[], node: T.Node, ctx: Context): EvalResult {
    const declaration = declarations[0]!;
    const here = (why: string): EvalResult => ({ ok: false, failure: { module, node: declaration.node, why } });
    switch (declaration.kind) {
      case 'enum':
        return here(`'${name}' is an enum; use one of its members, such as ${name}.${memberName(declaration.declaration.members[0]) ?? 'A'}`);
      case 'function':
        return here(`'${name}' is a function, not a constant`);
      case 'class':
        return here(`'${name}' is a class, not a constant`);
      case 'namespace':
        return here(`'${name}' is a namespace, not a constant`);
      case 'variable':
        break;
    }
    if (declaration.flavour !== 'const') return here(`'${name}' is declared with '${declaration.flavour}' and may change`);
    if (declaration.path.some((k) => typeof k === 'string' && k.startsWith('\u0000'))) return here(`'${name}' is bound by a rest element, a default or a computed key`);
    return this.guarded(module, name, node, ctx, () => {
      let result: EvalResult;
      if (declaration.initializer) {
        result = this.expression(declaration.initializer, { module, scopes: ctx.module === module ? ctx.scopes : [] });
      } else if (declaration.ambient && declaration.type) {
        result = this.typeValue(declaration.type, module, name);
      } else {
        return here(`'${name}' is declared without a value`);
      }
      if (!result.ok) return result;
      let value = result.value;
      for (const key of declaration.path) {
        const inner = (value as Record<string, ConstValue> | null)?.[key];
        if (inner === undefined || typeof value !== 'object') return here(`'${name}' destructures a value that is not there`);
        value = inner;
      }
      return ok(value);
    });
  }

  /** A `declare const X: 512` (declaration files keep constants as literal types). */
  private typeValue(type: T.TypeNode, module: ModuleInfo, name: string): EvalResult {
    const fail = (node: T.Node) => ({ ok: false as const, failure: { module, node, why: `'${name}' is declared with a type that is not a literal value` } });
    const walk = (node: T.TypeNode): EvalResult => {
      if (ts.isParenthesizedTypeNode(node)) return walk(node.type);
      if (ts.isTypeOperatorNode(node) && node.operator === ts.SyntaxKind.ReadonlyKeyword) return walk(node.type);
      if (ts.isLiteralTypeNode(node)) {
        const literal = node.literal;
        if (literal.kind === ts.SyntaxKind.NullKeyword) return ok(null);
        if (literal.kind === ts.SyntaxKind.TrueKeyword) return ok(true);
        if (literal.kind === ts.SyntaxKind.FalseKeyword) return ok(false);
        if (ts.isStringLiteral(literal) || ts.isNumericLiteral(literal) || ts.isPrefixUnaryExpression(literal)) return this.expression(literal, { module, scopes: [] });
        return fail(node);
      }
      if (ts.isTupleTypeNode(node)) {
        const items: ConstValue[] = [];
        for (const element of node.elements) {
          const item = walk(ts.isNamedTupleMember(element) ? element.type : element);
          if (!item.ok) return item;
          items.push(item.value);
        }
        return ok(items);
      }
      if (ts.isTypeLiteralNode(node)) {
        const object: Record<string, ConstValue> = {};
        for (const member of node.members) {
          if (!ts.isPropertySignature(member) || !member.type || member.questionToken) return fail(member);
          const key = memberName(member);
          if (key === undefined) return fail(member);
          const value = walk(member.type);
          if (!value.ok) return value;
          object[key] = value.value;
        }
        return ok(object);
      }
      return fail(node);
    };
    return walk(type);
  }

  private property(node: T.PropertyAccessExpression, ctx: Context): EvalResult {
    const name = node.name.text;
    const entity = this.entity(node.expression, ctx);
    if (entity) {
      if ('why' in entity) return this.fail(ctx, node.expression, entity.why);
      const binding = entity.binding;
      if (binding.kind === 'namespace') {
        const exported = this.graph.resolveExport(binding.module, name, { external: true });
        return this.follow(node, `'${node.getText(ctx.module.source)}'`, exported, ctx, `exported by ${binding.module.file}`);
      }
      if (binding.kind === 'runtime-namespace') return this.binding({ kind: 'runtime', name }, node, ctx);
      if (binding.kind === 'local' && binding.declarations[0]!.kind === 'enum') {
        const members = this.enumMembers(binding.module, binding.name, binding.declarations);
        if (!members.ok) return this.wrapEnum(members, node, ctx);
        const value = members.value.get(name);
        if (value === undefined) {
          return this.fail(ctx, node.name, members.done ? `enum '${binding.name}' has no member '${name}'` : `enum member ${binding.name}.${name} is used before it is defined`);
        }
        return ok(value);
      }
    }
    const target = this.expression(node.expression, ctx);
    if (!target.ok) return target;
    return this.member(target.value, name, node, ctx);
  }

  private wrapEnum(result: { ok: false; failure: EvalFailure }, node: T.Node, ctx: Context): EvalResult {
    const failure = result.failure;
    if (failure.module === ctx.module && failure.node === node) return result;
    return {
      ok: false,
      failure: { module: ctx.module, node, why: `'${node.getText(ctx.module.source)}' -> ${failure.why}`, related: failure.related ?? { ...locationOf(failure.module, failure.node), message: failure.why } },
    };
  }

  /** What a name or `ns.name` chain refers to when that is not a plain value (namespaces, enums). */
  private entity(node: T.Expression, ctx: Context): { binding: Binding } | { why: string } | undefined {
    if (ts.isParenthesizedExpression(node)) return this.entity(node.expression, ctx);
    if (ts.isIdentifier(node)) {
      const found = this.lookup(node.text, ctx);
      if (!found || 'why' in found) return undefined;
      const kind = found.binding.kind;
      if (kind === 'namespace' || kind === 'runtime-namespace') return found;
      if (kind === 'local' && found.binding.declarations[0]!.kind === 'enum') return found;
      if (kind === 'unresolved') return { why: found.binding.why };
      return undefined;
    }
    if (ts.isPropertyAccessExpression(node)) {
      const outer = this.entity(node.expression, ctx);
      if (!outer || 'why' in outer || outer.binding.kind !== 'namespace') return undefined;
      const inner = this.graph.resolveExport(outer.binding.module, node.name.text, { external: true });
      if (inner.kind === 'namespace' || (inner.kind === 'local' && inner.declarations[0]!.kind === 'enum')) return { binding: inner };
      if (inner.kind === 'unresolved') return { why: inner.why };
    }
    return undefined;
  }

  /** Every member of an enum (numeric auto-increment, string members, references to earlier members). */
  private enumMembers(
    module: ModuleInfo,
    name: string,
    declarations: LocalDeclaration[],
  ): { ok: true; value: Map<string, ConstValue>; done: boolean } | { ok: false; failure: EvalFailure } {
    const key = `${module.path}#${name}`;
    const known = this.enums.get(key);
    // While an enum is being evaluated, `E.A` inside it sees the members defined so far.
    if (known) return { ok: true, value: known.members, done: known.done };
    const members = new Map<string, ConstValue>();
    const state = { members, done: false };
    this.enums.set(key, state);
    const ctx: Context = { module, scopes: [], enumMembers: members };
    const failed = (failure: EvalFailure) => {
      this.enums.delete(key);
      return { ok: false as const, failure };
    };
    for (const declaration of declarations) {
      if (declaration.kind !== 'enum') continue;
      let next: number | undefined = 0;
      for (const member of declaration.declaration.members) {
        const memberKey = memberName(member);
        if (memberKey === undefined) return failed({ module, node: member, why: `enum '${name}' has a computed member name` });
        let value: ConstValue;
        if (member.initializer) {
          const evaluated = this.expression(member.initializer, ctx);
          if (!evaluated.ok) return failed(evaluated.failure);
          value = evaluated.value;
        } else if (next === undefined) {
          return failed({ module, node: member, why: `enum member ${name}.${memberKey} follows a string member and has no value` });
        } else value = next;
        members.set(memberKey, value);
        next = typeof value === 'number' ? value + 1 : undefined;
      }
    }
    state.done = true;
    return { ok: true, value: members, done: true };
  }

  private member(target: ConstValue, key: string, node: T.Node, ctx: Context): EvalResult {
    if (key === 'length' && (typeof target === 'string' || Array.isArray(target))) return ok(target.length);
    if (typeof target === 'object' && target !== null && Object.prototype.hasOwnProperty.call(target, key)) {
      return ok((target as Record<string, ConstValue>)[key]!);
    }
    return this.fail(ctx, node, `the constant has no property ${JSON.stringify(key)}`);
  }
}

function bindsName(name: T.BindingName, wanted: string): boolean {
  if (ts.isIdentifier(name)) return name.text === wanted;
  return name.elements.some((e) => !ts.isOmittedExpression(e) && bindsName(e.name, wanted));
}

function memberName(member: T.EnumMember | T.PropertySignature | undefined): string | undefined {
  const name = member?.name;
  if (!name) return undefined;
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return undefined;
}

export function locationOf(module: ModuleInfo, node: T.Node): { file: string; line: number; column: number } {
  const { line, character } = module.source.getLineAndCharacterOfPosition(node.getStart(module.source));
  return { file: module.file, line: line + 1, column: character + 1 };
}

function arithmetic(op: T.SyntaxKind, a: number, b: number): number | undefined {
  switch (op) {
    case ts.SyntaxKind.PlusToken:
      return a + b;
    case ts.SyntaxKind.MinusToken:
      return a - b;
    case ts.SyntaxKind.AsteriskToken:
      return a * b;
    case ts.SyntaxKind.SlashToken:
      return a / b;
    case ts.SyntaxKind.PercentToken:
      return a % b;
    case ts.SyntaxKind.AsteriskAsteriskToken:
      return a ** b;
    case ts.SyntaxKind.LessThanLessThanToken:
      return a << b;
    case ts.SyntaxKind.GreaterThanGreaterThanToken:
      return a >> b;
    case ts.SyntaxKind.GreaterThanGreaterThanGreaterThanToken:
      return a >>> b;
    case ts.SyntaxKind.AmpersandToken:
      return a & b;
    case ts.SyntaxKind.BarToken:
      return a | b;
    case ts.SyntaxKind.CaretToken:
      return a ^ b;
    default:
      return undefined;
  }
}

function describe(node: T.Node): string {
  if (ts.isCallExpression(node)) return 'a function call is evaluated at run time';
  if (ts.isNewExpression(node)) return "a 'new' expression is evaluated at run time";
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return 'a function is not a constant';
  if (ts.isConditionalExpression(node)) return 'a conditional expression';
  if (ts.isRegularExpressionLiteral(node)) return 'a regular expression is an object made at run time';
  if (ts.isTaggedTemplateExpression(node)) return 'a tagged template is evaluated at run time';
  if (ts.isAwaitExpression(node)) return "an 'await' expression";
  if (ts.isPostfixUnaryExpression(node)) return `the operator '${ts.tokenToString(node.operator)}' changes a variable`;
  if (ts.isClassExpression(node)) return 'a class is not a constant';
  if (node.kind === ts.SyntaxKind.ThisKeyword) return "'this' is known only when the code runs";
  return `a ${ts.SyntaxKind[node.kind]} expression is not a constant`;
}

/** An own data property, even for '__proto__': a constant's values are data, never a prototype. */
function defineOwn(object: Record<string, ConstValue>, key: string, value: ConstValue): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}
