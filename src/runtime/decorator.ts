// The class decorators application code writes. They work under both decorator modes:
// standard (TC39) decorators call `(value, context)`, `experimentalDecorators` calls `(value)`.
// A driver registers under its declared name, never `target.name`: bundlers may rename or
// anonymise classes.
import type { ProbeSignature } from '../model.js';
import { registerDriverClass } from './registered.js';

/** Options of `@blockDriver({...})`. Exactly one of `format` and `protocol`. */
export interface BlockDriverOptions {
  /** Image format name as qemu-img spells it ('qcow2', 'vmdk', ...). */
  readonly format?: string;
  /** Protocol name ('file', 'nbd', 'http'). */
  readonly protocol?: string;
  /** Filename prefixes that select this protocol driver ('nbd://'). */
  readonly prefixes?: readonly string[];
  /** How to recognise this format from an image's bytes (see the probe-signature language). */
  readonly probe?: ProbeSignature | readonly ProbeSignature[];
  /** One line for `emu ls` and reports. */
  readonly description?: string;
  /**
   * The options a user may give when an image is opened with this driver (QEMU's runtime
   * options: `['key-secret']`). They reach the generated table, so the application can tell a
   * foreign option from a known one without loading any driver.
   */
  readonly openOptions?: readonly string[];
}

// Typed loosely on purpose: one signature must satisfy both TypeScript decorator modes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyClass = abstract new (...args: any[]) => unknown;

/** A decorator factory for one registry kind: `createDriverDecorator('charDriver', ['name'])`. */
export function createDriverDecorator<O extends object>(
  registry: string,
  keyFields: readonly (keyof O & string)[],
): (options: O) => <T extends AnyClass>(target: T, context?: unknown) => void {
  return (options: O) => (target, _context) => {
    const record = options as Record<string, unknown>;
    const key = keyFields.map((field) => record[field]).find((value) => typeof value === 'string');
    if (typeof key !== 'string') {
      throw new TypeError(`@${registry}: the options need one of ${keyFields.join(', ')} as a string`);
    }
    registerDriverClass(registry, key, target, options);
  };
}

/** `@blockDriver({ format: 'qcow2', probe: {...} })` on an exported class. */
export const blockDriver = createDriverDecorator<BlockDriverOptions>('blockDriver', ['format', 'protocol']);
