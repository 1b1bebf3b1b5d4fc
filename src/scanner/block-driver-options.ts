// From a found `@blockDriver({...})` to a DriverInfo: option keys, types and the safe-name rules.
import { NAME_PATTERN, NAME_PATTERN_TEXT, type ConstValue, type DriverInfo, type DriverState } from '../model.js';
import { closest } from '../config/closest.js';
import { diagnostics as d } from '../diagnostics/codes.js';
import type { At } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { probeList, validateProbes } from '../probe/validate.js';
import type { FoundDecorator } from './scan-file.js';

export const BLOCK_DRIVER_OPTIONS = ['format', 'protocol', 'prefixes', 'probe', 'description', 'openOptions'] as const;

/** 'key-secret', 'encrypt.key-secret', 'force_size_calc': QEMU's option names. */
export const OPEN_OPTION_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;

/** 'nbd://', 'file:', 'nbd+unix://'. */
export const PREFIX_PATTERN = /^[a-z][a-z0-9+.-]{0,31}:(\/\/)?$/;

export function toDriverInfo(
  found: FoundDecorator,
  states: Readonly<Record<string, DriverState>>,
  defaultState: DriverState,
  diagnostics: Diagnostic[],
): DriverInfo | undefined {
  const options = found.options;
  if (!options) return undefined;
  const place = (key: string) => found.optionLocations[key] ?? found.at;
  let valid = true;
  const problem = (diagnostic: Diagnostic) => {
    diagnostics.push(diagnostic);
    valid = false;
  };

  for (const key of Object.keys(options)) {
    if (!(BLOCK_DRIVER_OPTIONS as readonly string[]).includes(key)) {
      problem(d.unknownOption(place(key), key, found.decorator, closest(key, BLOCK_DRIVER_OPTIONS)));
    }
  }
  const hasFormat = options.format !== undefined;
  const hasProtocol = options.protocol !== undefined;
  if (hasFormat === hasProtocol) {
    problem(d.missingName(found.at, found.decorator, ['format', 'protocol']));
    return undefined;
  }
  const key = hasFormat ? 'format' : 'protocol';
  const name = options[key];
  if (typeof name !== 'string') {
    problem(d.badOptionType(place(key), key, 'a string', typeName(name)));
    return undefined;
  }
  if (!NAME_PATTERN.test(name)) problem(d.unsafeName(place(key), name, NAME_PATTERN_TEXT));
  if (!found.exported) problem(d.notExported(found.at, found.className, found.decorator));

  const prefixes = options.prefixes ?? [];
  if (!Array.isArray(prefixes) || prefixes.some((p) => typeof p !== 'string' || !PREFIX_PATTERN.test(p))) {
    problem(d.badOptionType(place('prefixes'), 'prefixes', "a list of prefixes such as ['nbd://']", typeName(prefixes)));
  } else if (hasFormat && prefixes.length > 0) {
    problem(d.badOptionType(place('prefixes'), 'prefixes', 'absent on a format driver (only protocols have prefixes)', 'a list'));
  }
  if (options.description !== undefined && typeof options.description !== 'string') {
    problem(d.badOptionType(place('description'), 'description', 'a string', typeName(options.description)));
  }
  const openOptions = options.openOptions ?? [];
  const openProblem = openOptionsProblem(openOptions);
  if (openProblem) {
    // At the offending element when there is one, else at the option.
    const element = openProblem.index === undefined ? undefined : found.valueLocations[`openOptions[${openProblem.index}]`];
    problem(d.badOptionType(element ?? place('openOptions'), 'openOptions', `a list of distinct option names matching ${OPEN_OPTION_PATTERN}`, openProblem.got));
  }
  if (options.probe !== undefined) {
    if (hasProtocol) problem(d.badProbe(place('probe'), 'protocol drivers are chosen by prefix, not probed'));
    for (const message of validateProbes(options.probe)) problem(d.badProbe(probePlace(found, message), message));
  }
  if (!valid) return undefined;
  return {
    registry: found.decorator,
    name,
    kind: hasFormat ? 'format' : 'protocol',
    state: states[name] ?? defaultState,
    file: found.file,
    exportName: found.exportName,
    prefixes: prefixes as string[],
    probes: probeList(options.probe),
    openOptions: openOptions as string[],
    options,
    location: found.location,
  };
}

/** What is wrong with an `openOptions` value, and at which element (undefined: the whole value). */
function openOptionsProblem(value: ConstValue): { index?: number; got: string } | undefined {
  if (!Array.isArray(value)) return { got: typeName(value) };
  const list = value as readonly ConstValue[];
  for (const [index, item] of list.entries()) {
    if (typeof item !== 'string') return { index, got: typeName(item) };
    if (!OPEN_OPTION_PATTERN.test(item)) return { index, got: `string ${JSON.stringify(item)}` };
    if (list.indexOf(item) !== index) return { index, got: `${JSON.stringify(item)} twice` };
  }
  return undefined;
}

/**
 * The most precise place for a probe problem: the messages of validateProbes start with the path
 * inside the option (`probe.match[1].at must be ...`); point at the deepest literal on that path.
 */
function probePlace(found: FoundDecorator, message: string): At {
  const path = /^probe[\w.[\]]*/.exec(message)?.[0] ?? 'probe';
  for (let end = path.length; end > 0; end--) {
    const prefix = path.slice(0, end);
    if (end < path.length && !/[.[]/.test(path[end]!)) continue;
    const where = found.valueLocations[prefix];
    if (where) return where;
  }
  return found.optionLocations.probe ?? found.at;
}

export function typeName(value: ConstValue | undefined): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
