// Command-line parsing for gen-modules. Unknown flags are usage errors (exit 2) with a suggestion.
import { closest } from '../config/closest.js';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliArgs {
  command: 'generate' | 'probe' | 'report';
  /** `report --out FILE`. */
  out?: string;
  config?: string;
  check: boolean;
  watch: boolean;
  json: boolean;
  help: boolean;
  version: boolean;
  files: string[];
  /** --no-cache: scan every file even when nothing changed since the last clean scan. */
  noCache: boolean;
}

const FLAGS = ['--config', '--check', '--watch', '--json', '--no-cache', '--help', '--version', '--out'];

export function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { command: 'generate', check: false, watch: false, json: false, help: false, version: false, files: [], noCache: false };
  const rest = [...argv];
  if (rest[0] === 'probe' || rest[0] === 'generate' || rest[0] === 'report') args.command = rest.shift() as CliArgs['command'];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    switch (flag) {
      case '--config': {
        const value = inline ?? fileArgument(rest);
        if (!value) throw new UsageError('--config needs a file name');
        args.config = value;
        break;
      }
      case '--out': {
        const value = inline ?? fileArgument(rest);
        if (!value) throw new UsageError('--out needs a file name');
        if (args.command !== 'report') throw new UsageError('--out is an option of `gen-modules report`');
        args.out = value;
        break;
      }
      case '--check':
      case '--watch':
      case '--json':
      case '--help':
      case '--version':
        if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
        args[flag.slice(2) as 'check' | 'watch' | 'json' | 'help' | 'version'] = true;
        break;
      case '--no-cache':
        if (inline !== undefined) throw new UsageError(`${flag} takes no value`);
        args.noCache = true;
        break;
      case '-h':
        args.help = true;
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') {
          const guess = closest(flag, FLAGS);
          throw new UsageError(`unknown option '${flag}'${guess ? `; did you mean '${guess}'?` : ''}`);
        }
        if (args.command === 'generate') throw new UsageError(`unexpected argument '${arg}'`);
        args.files.push(arg);
    }
  }
  if (args.command === 'probe' && args.files.length === 0 && !args.help) throw new UsageError('probe needs at least one FILE');
  if (args.command === 'report' && args.files.length !== 1 && !args.help) throw new UsageError('report needs the build manifest: gen-modules report dist/gen-modules-manifest.json');
  if (args.check && args.watch) throw new UsageError('--check and --watch cannot be used together');
  return args;
}

/**
 * The next argument as a flag's file name, unless it is one of the flags (`--config --check`
 * would otherwise read "--check" as the config's name): then none. `--config=--odd` still works.
 */
function fileArgument(rest: string[]): string | undefined {
  const next = rest[0];
  if (next === undefined || FLAGS.includes(next.split('=')[0]!)) return undefined;
  return rest.shift();
}
