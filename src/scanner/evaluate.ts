// Constant evaluation of decorator arguments. Only what the compiler could fold is accepted:
// literals, consts, `as const`/`satisfies`/parentheses, arithmetic and bit operations on numbers,
// arrays and objects of these. Anything else yields a diagnostic that says why it is not constant.
import { ts } from 'ts-morph';
import type { ConstValue } from '../model.js';

export interface EvalFailure {
  node: ts.Node;
  why: string;
}

export type EvalResult = { ok: true; value: ConstValue } | { ok: false; failure: EvalFailure };

/**
 * Resolves an identifier to the expression that defines it (a `const` initializer, an enum member,
 * an imported constant). Returns a failure reason when the identifier is not a constant.
 */
export type IdentifierResolver = (
  identifier: ts.Identifier | ts.PropertyAccessExpression,
) => { expression: ts.Expression; resolve: IdentifierResolver } | { value: ConstValue } | { why: string } | undefined;

const ok = (value: ConstValue): EvalResult => ({ ok: true, value });
const fail = (node: ts.Node, why: string): EvalResult => ({ ok: false, failure: { node, why } });

export function evaluateConstant(node: ts.Expression, resolve: IdentifierResolver, depth = 0): EvalResult {
  if (depth > 64) return fail(node, 'the constant refers to itself or nests too deeply');
  const next = (expression: ts.Expression, resolver = resolve) => evaluateConstant(expression, resolver, depth + 1);

  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return ok(node.text);
  if (ts.isNumericLiteral(node)) return ok(Number(node.text));
  if (ts.isBigIntLiteral(node)) return ok(String(BigInt(node.text.slice(0, -1))));
  if (node.kind === ts.SyntaxKind.TrueKeyword) return ok(true);
  if (node.kind === ts.SyntaxKind.FalseKeyword) return ok(false);
  if (node.kind === ts.SyntaxKind.NullKeyword) return ok(null);
  if (ts.isParenthesizedExpression(node)) return next(node.expression);
  if (ts.isAsExpression(node) || ts.isSatisfiesExpression(node) || ts.isTypeAssertionExpression(node)) {
    return next(node.expression);
  }
  if (ts.isNonNullExpression(node)) return next(node.expression);
  if (ts.isTemplateExpression(node)) return fail(node, 'a template literal with substitutions');

  if (ts.isArrayLiteralExpression(node)) {
    const items: ConstValue[] = [];
    for (const element of node.elements) {
      if (ts.isSpreadElement(element)) {
        const spread = next(element.expression);
        if (!spread.ok) return spread;
        if (!Array.isArray(spread.value)) return fail(element, 'a spread of something that is not an array');
        items.push(...(spread.value as ConstValue[]));
        continue;
      }
      if (ts.isOmittedExpression(element)) return fail(element, 'an array with a hole');
      const item = next(element);
      if (!item.ok) return item;
      items.push(item.value);
    }
    return ok(items);
  }

  if (ts.isObjectLiteralExpression(node)) {
    const object: Record<string, ConstValue> = {};
    for (const property of node.properties) {
      if (ts.isSpreadAssignment(property)) {
        const spread = next(property.expression);
        if (!spread.ok) return spread;
        if (typeof spread.value !== 'object' || spread.value === null || Array.isArray(spread.value)) {
          return fail(property, 'a spread of something that is not an object');
        }
        Object.assign(object, spread.value);
        continue;
      }
      if (ts.isShorthandPropertyAssignment(property)) {
        const value = next(property.name);
        if (!value.ok) return value;
        object[property.name.text] = value.value;
        continue;
      }
      if (!ts.isPropertyAssignment(property)) {
        return fail(property, ts.isMethodDeclaration(property) ? 'a method' : 'an accessor');
      }
      const key = propertyKey(property.name, resolve, depth);
      if (typeof key !== 'string') return key;
      const value = next(property.initializer);
      if (!value.ok) return value;
      object[key] = value.value;
    }
    return ok(object);
  }

  if (ts.isPrefixUnaryExpression(node)) {
    const operand = next(node.operand);
    if (!operand.ok) return operand;
    if (typeof operand.value !== 'number') return fail(node, 'a unary operator on something that is not a number');
    switch (node.operator) {
      case ts.SyntaxKind.MinusToken:
        return ok(-operand.value);
      case ts.SyntaxKind.PlusToken:
        return ok(operand.value);
      case ts.SyntaxKind.TildeToken:
        return ok(~operand.value);
      default:
        return fail(node, `the operator '${ts.tokenToString(node.operator)}' changes a variable`);
    }
  }

  if (ts.isBinaryExpression(node)) {
    const left = next(node.left);
    if (!left.ok) return left;
    const right = next(node.right);
    if (!right.ok) return right;
    const op = node.operatorToken.kind;
    if (op === ts.SyntaxKind.PlusToken && typeof left.value === 'string' && typeof right.value === 'string') {
      return ok(left.value + right.value);
    }
    if (typeof left.value !== 'number' || typeof right.value !== 'number') {
      return fail(node, `'${ts.tokenToString(op)}' on something that is not a number`);
    }
    const value = arithmetic(op, left.value, right.value);
    if (value === undefined) return fail(node.operatorToken, `the operator '${ts.tokenToString(op)}' is not allowed in a constant`);
    return ok(value);
  }

  if (ts.isIdentifier(node) || ts.isPropertyAccessExpression(node)) {
    if (ts.isIdentifier(node) && node.text === 'undefined') return fail(node, "'undefined' (leave the option out instead)");
    const found = resolve(node);
    if (found === undefined) return fail(node, `'${node.getText()}' is not a constant declared in this file or imported`);
    if ('why' in found) return fail(node, found.why);
    if ('value' in found) return ok(found.value);
    return next(found.expression, found.resolve);
  }

  if (ts.isElementAccessExpression(node)) {
    const target = next(node.expression);
    if (!target.ok) return target;
    const index = next(node.argumentExpression);
    if (!index.ok) return index;
    const value = (target.value as Record<string, ConstValue> | null)?.[String(index.value)];
    if (value === undefined) return fail(node, `no element ${JSON.stringify(index.value)} in the constant`);
    return ok(value);
  }

  return fail(node, describe(node));
}

function propertyKey(name: ts.PropertyName, resolve: IdentifierResolver, depth: number): string | EvalResult {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) {
    return name.text;
  }
  if (ts.isComputedPropertyName(name)) {
    const key = evaluateConstant(name.expression, resolve, depth + 1);
    if (!key.ok) return key;
    if (typeof key.value === 'string' || typeof key.value === 'number') return String(key.value);
    return fail(name, 'a computed key that is not a string or number');
  }
  return fail(name, 'a private name');
}

function arithmetic(op: ts.SyntaxKind, a: number, b: number): number | undefined {
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

function describe(node: ts.Node): string {
  if (ts.isCallExpression(node)) return 'a function call is evaluated at run time';
  if (ts.isNewExpression(node)) return "a 'new' expression is evaluated at run time";
  if (ts.isArrowFunction(node) || ts.isFunctionExpression(node)) return 'a function';
  if (ts.isConditionalExpression(node)) return 'a conditional expression';
  if (ts.isRegularExpressionLiteral(node)) return 'a regular expression';
  if (ts.isTaggedTemplateExpression(node)) return 'a tagged template is evaluated at run time';
  if (ts.isAwaitExpression(node)) return "an 'await' expression";
  return `a ${ts.SyntaxKind[node.kind]} expression`;
}
