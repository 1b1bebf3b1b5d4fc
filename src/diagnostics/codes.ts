// Every diagnostic the tool can report, one factory per code. Codes are stable: tools and
// fixtures match on them. GM1xxx sources, GM2xxx cross-driver checks, GM3xxx probes, GM9xxx config.
import type { Diagnostic, RelatedLocation, Severity } from './diagnostic.js';

export interface At {
  file: string;
  line: number;
  column: number;
  length?: number;
}

function make(code: string, severity: Severity, at: At, message: string, related: RelatedLocation[] = []): Diagnostic {
  return {
    code,
    severity,
    file: at.file,
    line: at.line,
    column: at.column,
    length: Math.max(1, at.length ?? 1),
    message,
    related,
  };
}

const list = (keys: readonly string[]) => keys.map((k) => `'${k}'`).join(', ');

export const diagnostics = {
  syntaxError: (at: At, message: string) => make('GM1001', 'error', at, `syntax error: ${message}`),
  notConstant: (at: At, what: string, why: string, related: RelatedLocation[] = []) =>
    make('GM1002', 'error', at, `${what} must be a compile-time constant: ${why}`, related),
  badOptionType: (at: At, key: string, expected: string, got: string) =>
    make('GM1003', 'error', at, `option '${key}' must be ${expected}, got ${got}`),
  unknownOption: (at: At, key: string, decorator: string, suggestion?: string) =>
    make(
      'GM1004',
      'error',
      at,
      `unknown option '${key}' in @${decorator}(...)` + (suggestion ? `; did you mean '${suggestion}'?` : ''),
    ),
  missingName: (at: At, decorator: string, keys: readonly string[]) =>
    make('GM1005', 'error', at, `@${decorator}(...) needs exactly one of ${keys.map((k) => `'${k}'`).join(', ')}`),
  notExported: (at: At, className: string, decorator: string) =>
    make('GM1006', 'error', at, `class '${className}' has @${decorator} but is not exported, so no chunk can load it`),
  badArguments: (at: At, decorator: string) =>
    make('GM1007', 'error', at, `@${decorator} takes one object literal argument: @${decorator}({ ... })`),
  unsafeName: (at: At, name: string, pattern: string) =>
    make('GM1008', 'error', at, `driver name '${name}' is not allowed: names must match ${pattern}`),
  cannotReadFile: (file: string, why: string) => make('GM1009', 'error', { file, line: 1, column: 1 }, `cannot read file: ${why}`),
  unknownRegistry: (at: At, registry: string, suggestion?: string) =>
    make(
      'GM1010',
      'warning',
      at,
      `@${registry} is a driver decorator (createDriverDecorator('${registry}', ...)) but the config declares no registry '${registry}', so no table lists it` +
        (suggestion ? `; did you mean '${suggestion}'?` : `; add "registries": { "${registry}": { "out": "..." } }`),
    ),
  registryKeys: (at: At, registry: string, declared: readonly string[], configured: readonly string[]) =>
    make(
      'GM1011',
      'error',
      at,
      `registry '${registry}' names drivers by ${list(declared)} here but by ${list(configured)} in the config`,
    ),
  unimportableFile: (at: At, file: string, character: string) =>
    make(
      'GM1012',
      'error',
      at,
      `the table cannot import ${file}: ${JSON.stringify(character)} in a file name means something else in an import, which Node reads as a URL (# a fragment, ? a query, % an escape; \\ a slash; tabs and line breaks are dropped) and TypeScript as a path; rename the file`,
    ),
  duplicateName: (at: At, kind: string, name: string, first: RelatedLocation) =>
    make('GM2001', 'error', at, `duplicate ${kind} name '${name}'`, [first]),
  duplicateSignature: (at: At, name: string, other: string, first: RelatedLocation) =>
    make('GM2002', 'error', at, `driver '${name}' declares the same definite probe signature as '${other}'`, [first]),
  duplicatePrefix: (at: At, prefix: string, first: RelatedLocation) =>
    make('GM2003', 'error', at, `protocol prefix '${prefix}' is declared twice`, [first]),
  badProbe: (at: At, message: string) => make('GM3001', 'error', at, `invalid probe: ${message}`),
  probeModuleMissing: (at: At, path: string) => make('GM3002', 'error', at, `probe module '${path}' does not exist`),
  config: (file: string, message: string, line = 1, column = 1) =>
    make('GM9001', 'error', { file, line, column }, message),
  noDriverFiles: (file: string, patterns: readonly string[]) =>
    make('GM9002', 'warning', { file, line: 1, column: 1 }, `no files match ${patterns.map((p) => `'${p}'`).join(', ')}`),
  tsconfig: (at: At, message: string) => make('GM9003', 'warning', at, `${message}; tsconfig paths are not used`),
  driverPackage: (at: At, name: string, message: string) => make('GM9004', 'error', at, `driver package '${name}': ${message}`),
  unknownConfigName: (at: At, key: string, name: string, guess: string | undefined) =>
    make('GM9005', 'warning', at, `'${key}' names driver '${name}', which no scanned source declares${guess ? `; did you mean '${guess}'?` : ''}`),
} as const;
