// Whether a process of this host is still running, for the files and folders gen-modules names by
// process id (temporary files of atomic writes, the esbuild plugin's link folders): a killed
// process leaves them behind, and only a later process can tell they are abandoned.

/** Whether process `pid` exists: signal 0 checks without sending (EPERM: it exists, not ours). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
