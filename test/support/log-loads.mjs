// A Node module hook that records every ES module file the process loads, independently of the
// registry's own bookkeeping: `node --import ./log-loads.mjs emu.mjs ...` prints the list on exit.
// Files, not URLs: the query a lazy chunk is loaded with (`?build=<build id>`) is left out.
import { register } from 'node:module';

const channel = new MessageChannel();
const loaded = [];
channel.port1.on('message', (url) => loaded.push(url));
channel.port1.unref();
register(
  'data:text/javascript,' +
    encodeURIComponent(`
      let port;
      export function initialize(data) { port = data.port; }
      export async function load(url, context, next) {
        if (url.startsWith('file:')) port.postMessage(url.replace(/[?#].*$/, ''));
        return next(url, context);
      }
    `),
  { data: { port: channel.port2 }, transferList: [channel.port2] },
);
process.on('exit', () => {
  process.stderr.write(`\n[loaded-files] ${JSON.stringify(loaded)}\n`);
});
