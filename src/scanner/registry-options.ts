// Drivers of the other registries a config declares (`@charDriver`, `@device`, ...): the key
// field names the driver and follows the same safe-name rule; the other options are free-form
// constants (checked against `options` when the config lists them) and go to the table as data.
import type { DriverInfo } from '../model.js';
import { closest } from '../config/closest.js';
import type { RegistryConfig } from '../config/validate-config.js';
import { diagnostics as d } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { NAME_PATTERN, NAME_PATTERN_TEXT } from '../model.js';
import { typeName } from './block-driver-options.js';
import type { FoundDecorator } from './scan-file.js';

export function toRegistryDriverInfo(found: FoundDecorator, registry: RegistryConfig, diagnostics: Diagnostic[]): DriverInfo | undefined {
  const options = found.options;
  if (!options) return undefined;
  const place = (key: string) => found.optionLocations[key] ?? found.at;
  let valid = true;
  const problem = (diagnostic: Diagnostic) => {
    diagnostics.push(diagnostic);
    valid = false;
  };
  // The runtime registers a class under the key fields createDriverDecorator was given: the table
  // must use the same ones, so those win; a config that says otherwise is an error.
  const keys = found.declaredKeys ?? registry.keys ?? ['name'];
  if (registry.keys && found.declaredKeys && registry.keys.join('\u0000') !== found.declaredKeys.join('\u0000')) {
    problem(d.registryKeys(found.at, found.decorator, found.declaredKeys, registry.keys));
  }
  if (registry.options) {
    for (const key of Object.keys(options)) {
      if (!registry.options.includes(key)) problem(d.unknownOption(place(key), key, found.decorator, closest(key, registry.options)));
    }
  }
  // The runtime's decorator takes the first key field that holds a string: so does the table.
  const key = keys.find((k) => typeof options[k] === 'string');
  if (key === undefined) {
    const present = keys.find((k) => options[k] !== undefined);
    if (present) problem(d.badOptionType(place(present), present, 'a string', typeName(options[present])));
    else problem(d.missingName(found.at, found.decorator, keys));
    return undefined;
  }
  const name = options[key] as string;
  if (!NAME_PATTERN.test(name)) problem(d.unsafeName(place(key), name, NAME_PATTERN_TEXT));
  if (!found.exported) problem(d.notExported(found.at, found.className, found.decorator));
  if (!valid) return undefined;
  return {
    registry: found.decorator,
    name,
    // The runtime's table entry has a kind; other registries have neither formats nor protocols,
    // and 'format' keeps the entry valid (the runtime uses the kind only in messages).
    kind: 'format',
    state: registry.states[name] ?? registry.defaultState,
    file: found.file,
    exportName: found.exportName,
    prefixes: [],
    probes: [],
    openOptions: [],
    options,
    location: found.location,
  };
}
