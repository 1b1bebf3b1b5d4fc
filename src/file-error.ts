// Node's file-system error codes in the few words a user needs ("no such file", "it is a
// directory"), for the one-line messages of the CLI, the config loader and the single writer.

/**
 * Why a file operation failed. For a code with no plainer words: `otherwise` and the code
 * ("cannot read (EIO)") when given, else the error's own message.
 */
export function fileErrorReason(error: unknown, otherwise?: string): string {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOTDIR':
      return 'a part of its path is a file, not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    case 'EROFS':
      return 'read-only file system';
    default:
      return otherwise === undefined ? (message ?? String(error)) : `${otherwise} (${code ?? message ?? String(error)})`;
  }
}
