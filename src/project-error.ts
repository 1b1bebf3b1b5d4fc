// An error about the user's project (its config, its sources, a file it asks gen-modules to write,
// its build options), as opposed to a fault in gen-modules. It carries no stack: its frames would
// be ours and say nothing about the problem, and rollup's and Vite's command lines print a thrown
// error's stack under its message (esbuild shows the source line of its first frame). Node still
// prints such an error as `[Name: message]`. Internal errors keep their stacks.
export class ProjectError extends Error {
  constructor(message: string) {
    super(message);
    this.stack = '';
  }
}
