// Runs load steps against a built fixtures/plugin-apps/basic bundle in a fresh Node process, with
// the registry loading through the build manifest, and prints the outcome of each step as JSON.
// usage: node load-runner.mjs OUTDIR STEPS_JSON
// Steps: { "load": "alpha" } | { "copy": [from, to] } | { "remove": file } | { "gated": "alpha" }
//   | { "reopen": true } (a new registry from the manifest now in OUTDIR, as a server does after a deploy)
// A gated load holds every chunk import until the loader has issued all of its requests, and
// reports which URLs were requested before any chunk could load (the no-waterfall check).
import { copyFileSync, rmSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [outdir, stepsJson] = process.argv.slice(2);
const app = await import(pathToFileURL(`${outdir}/main.mjs`).href);
let manifest = app.manifestBeside();
const calls = [];
let gate;
const importChunk = (url) => {
  calls.push(url);
  return gate ? gate.then(() => import(url)) : import(url);
};
const openRegistry = () => app.openRegistry({ manifest, baseUrl: pathToFileURL(`${outdir}/`).href, importChunk });
let registry = openRegistry();
const results = [];
for (const step of JSON.parse(stepsJson)) {
  if (step.copy) copyFileSync(step.copy[0], step.copy[1]);
  else if (step.reopen) {
    manifest = app.manifestBeside();
    registry = openRegistry();
  }
  else if (step.remove) rmSync(step.remove);
  else if (step.load || step.gated) {
    const name = step.load ?? step.gated;
    let open;
    if (step.gated) gate = new Promise((resolve) => (open = resolve));
    const promise = registry.load(name);
    let requestedBeforeAnyLoad;
    if (step.gated) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      requestedBeforeAnyLoad = [...calls];
      open();
      gate = undefined;
    }
    try {
      const driver = await promise;
      results.push({ ok: true, name, marker: driver.marker, calls: calls.splice(0), requestedBeforeAnyLoad });
    } catch (error) {
      results.push({ ok: false, name, errorName: error.name, code: error.code, driver: error.driver, chunk: error.chunk, message: error.message, calls: calls.splice(0) });
    }
  }
}
results.push({ status: registry.list().map((d) => [d.name, d.status]), loaded: registry.loadedDrivers(), buildId: manifest.buildId });
process.stdout.write(`${JSON.stringify(results)}\n`);
