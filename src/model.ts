// Plain data shared by the scanner, the probe compiler, the code generator and the runtime.
// Imports nothing: every layer may depend on this file, and it depends on none of them.

/** Kconfig-style build state of one driver. */
export type DriverState = 'builtin' | 'module' | 'disabled';

/** Driver names become object keys, type-union members and chunk file names: kept plain. */
export const NAME_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;
export const NAME_PATTERN_TEXT = '/^[a-z][a-z0-9_-]{0,63}$/ (lower-case letter, then letters, digits, _ or -)';

/** What a block driver serves: an image format (probed from bytes) or a protocol (chosen by prefix). */
export type DriverKind = 'format' | 'protocol';

// ---------------------------------------------------------------------------------------------
// The probe-signature language, as written inside `@blockDriver({ probe: ... })`.
//
// A driver declares one probe or a list of them; its score for an image is the highest score of
// any of its probes that matches. Every value is a compile-time constant so that the generator can
// compile all signatures into one index that the core evaluates without loading any driver.
//
// Offsets (`at`) count from the start of the file; a negative offset counts from its end
// (`at: -512` is the last 512-byte sector). Byte strings (`bytes`, `cstring`, `prefix`) are
// latin1: each UTF-16 code unit 0..255 is one byte, so 'QFI\xfb' is 51 46 49 FB.
// ---------------------------------------------------------------------------------------------

/** A comparison applied to an unsigned integer field. A bare number (or bigint string) means `eq`. */
export type IntComparison =
  | number
  | string
  | {
      /** Equal to. */
      eq?: number | string;
      /** Not equal to. */
      ne?: number | string;
      /** At least (inclusive). */
      min?: number | string;
      /** At most (inclusive). */
      max?: number | string;
      /** One of. */
      in?: readonly (number | string)[];
      /** The field is AND-ed with this mask before every other comparison. */
      mask?: number | string;
    };

/** One test on the image. All keys of one test hold together; lists of tests are conjunctions. */
export type ProbeTest =
  /** Bytes at an offset, optionally under a mask (hex string, same length as the bytes). */
  | { at: number; bytes: string; mask?: string }
  /** Bytes given as hex ("514649fb"), optionally under a hex mask. */
  | { at: number; hex: string; mask?: string }
  /** A NUL-terminated string: the bytes of the string followed by a 0 byte (C strcmp). */
  | { at: number; cstring: string }
  /** Compared only as far as the data goes (QEMU's cloop probe): a short file matches a prefix of it. */
  | { at: number; prefix: string }
  /** Unsigned integer fields; exactly one of these keys per test. */
  | { at: number; u8: IntComparison }
  | { at: number; u16le: IntComparison }
  | { at: number; u16be: IntComparison }
  | { at: number; u32le: IntComparison }
  | { at: number; u32be: IntComparison }
  | { at: number; u64le: IntComparison }
  | { at: number; u64be: IntComparison }
  /** The file name ends with this suffix and is longer than it (QEMU's dmg probe). Case-sensitive. */
  | { suffix: string }
  /** At least this many bytes of probe data (QEMU compares `buf_size` with a header size). */
  | { minLength: number }
  /** Alternatives: at least one of these tests (or lists of tests, each a conjunction) holds. */
  | { any: readonly (ProbeTest | readonly ProbeTest[])[] };

/** One probe of a driver. */
export interface ProbeSignature {
  /** QEMU's scale: 100 definite, 2 weak. Raw answers 1 and needs no declaration. */
  score: number;
  /** Tests that must all hold. Empty or absent means "always" (only sensible with `module`). */
  match?: ProbeTest | readonly ProbeTest[];
  /**
   * A probe module for rules that cannot be declarative (vmdk's text descriptor), as a path
   * relative to the driver file. `match` is then its guard: the module is loaded (in its own tiny
   * chunk) only when the guard holds, and its default export decides:
   * `(data: ProbeData) => number`, returning 0 or a score up to `score`.
   */
  module?: string;
}

/** What a probe sees: QEMU's 512-byte probe buffer, plus the file's tail and name. */
export interface ProbeData {
  /** The first bytes of the file (up to the index's `headBytes`). */
  head: Uint8Array;
  /** The last bytes of the file (up to the index's `tailBytes`); empty when none are needed. */
  tail: Uint8Array;
  /** Total size of the file in bytes. */
  size: number;
  /** The file name as given (QEMU passes the filename to dmg's probe). */
  filename: string;
}

// ---------------------------------------------------------------------------------------------
// What the scanner found.
// ---------------------------------------------------------------------------------------------

/** A place in a source file; line and column are 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** Any literal value that a decorator option may hold after constant evaluation. */
export type ConstValue =
  | string
  | number
  | boolean
  | null
  | readonly ConstValue[]
  | { readonly [key: string]: ConstValue };

/** One decorated driver class. */
export interface DriverInfo {
  /** The declared registry (decorator) kind, `blockDriver` for block drivers. */
  registry: string;
  /** Format or protocol name, the key of the lookup table. */
  name: string;
  kind: DriverKind;
  state: DriverState;
  /** Path of the driver file relative to the config file's folder, with forward slashes. */
  file: string;
  /** Exported class name, or 'default' for `export default class`. */
  exportName: string;
  /** Protocol prefixes such as 'nbd://' (protocol drivers only). */
  prefixes: readonly string[];
  /** Declared probes (format drivers only). */
  probes: readonly ProbeSignature[];
  /** Option names the driver takes when an image is opened (`openOptions`; block drivers only). */
  openOptions: readonly string[];
  /** The decorator's options after constant evaluation, for other registries' key fields. */
  options: { readonly [key: string]: ConstValue };
  /** Where the decorator is, for diagnostics. */
  location: SourceLocation;
  /** Set for drivers of an installed (or workspace) package named in the config's `packages`. */
  package?: DriverPackage;
}

/** A generated table: its registry ('blockDriver' for the main one), absolute path and text. */
export interface RenderedTable {
  registry: string;
  out: string;
  content: string;
}

/** A driver package: generated code imports its drivers by package specifier, not by path. */
export interface DriverPackage {
  /** npm name, e.g. '@acme/qemu-drivers'. */
  name: string;
  /** The package folder relative to the config folder (its real path: workspace links resolved). */
  root: string;
  /** With `outDir`: imports map `rootDir/x.ts` to `outDir/x.js`, as tsc emits the package. */
  rootDir?: string;
  outDir?: string;
}
