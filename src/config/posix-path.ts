// Paths in diagnostics, tables and inputs use forward slashes on every system. Only Windows
// separators are converted: on POSIX a backslash is an ordinary character of a file name.
import { sep } from 'node:path';

export function toPosixPath(path: string): string {
  return sep === '\\' ? path.split('\\').join('/') : path;
}
