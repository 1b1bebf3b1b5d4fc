// The first lines of a Node script (an ES module, run with `--input-type=module -e`) that notes
// whether the TypeScript compiler's file is read: `compiler` is true from then on. The scanner
// loads the compiler with readFileSync (a V8 code cache, src/scanner/code-cache.ts) or require,
// which reads through the same function.
export const noteCompilerReads: readonly string[] = [
  `import fs from 'node:fs';`,
  `import { syncBuiltinESMExports } from 'node:module';`,
  `const read = fs.readFileSync;`,
  `let compiler = false;`,
  `fs.readFileSync = function (file, ...rest) { if (/typescript\\.js$/.test(String(file))) compiler = true; return read.call(this, file, ...rest); };`,
  `syncBuiltinESMExports();`,
];
