// A .tsx module with decorators, compiled by the plugin's TypeScript transform (rollup: every
// module; Vite: those with decorators): its JSX compiles as the module's tsconfig.json says
// ("jsx": "react-jsx" here), not as esbuild's default classic React.createElement, which failed
// at run time with "React is not defined".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runNode } from '../support/run-node.js';
import { writeFiles } from '../support/files.js';
import { buildApp, cleanup, copyApp } from './support/build-app.js';

describe('JSX in decorated .tsx modules', () => {
  let app: string | undefined;
  beforeAll(() => {
    app = copyApp('basic');
    writeFiles(app, {
      'tsconfig.json': JSON.stringify({ compilerOptions: { jsx: 'react-jsx', jsxImportSource: 'tiny-jsx', target: 'es2022', module: 'esnext', moduleResolution: 'bundler' } }),
      // A JSX runtime that renders to a string, so that the output can be checked by running it.
      'node_modules/tiny-jsx/package.json': JSON.stringify({ name: 'tiny-jsx', type: 'module', exports: { './jsx-runtime': './jsx-runtime.js', './jsx-dev-runtime': './jsx-runtime.js' } }),
      'node_modules/tiny-jsx/jsx-runtime.js': 'export const jsx = (tag, props) => `<${tag}>${props.children ?? ""}</${tag}>`;\nexport const jsxs = jsx;\nexport const jsxDEV = jsx;\nexport const Fragment = "";\n',
      'src/widget.tsx': [
        'function logged(method: (this: Widget) => string, context: ClassMethodDecoratorContext): (this: Widget) => string {',
        '  return function (this: Widget) {',
        '    return `${String(context.name)}:${method.call(this)}`;',
        '  };',
        '}',
        'export class Widget {',
        '  @logged',
        '  render(): string {',
        '    return <b>{"hi"}</b>;',
        '  }',
        '}',
        '',
      ].join('\n'),
      'src/widget-main.ts': `import { Widget } from './widget.js';\nimport { driverTable } from './generated/drivers.gen.js';\nprocess.stdout.write(\`\${new Widget().render()} \${driverTable.drivers.length}\\n\`);\n`,
    });
  });
  afterAll(() => cleanup(app));

  it.each(['rollup', 'vite'] as const)('%s: the JSX runtime the tsconfig names, and the decorator applied', async (bundler) => {
    const out = join(app!, `dist-${bundler}`);
    await buildApp(bundler, app!, out, { entry: 'src/widget-main.ts' });
    writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
    const run = await runNode([join(out, 'main.mjs')], { cwd: app! });
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe('render:<b>hi</b> 4\n');
  });
});
