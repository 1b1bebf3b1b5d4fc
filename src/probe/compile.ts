// From declared probes to the index the runtime evaluates: tests flattened to one list per probe,
// probe modules replaced by stable ids, and the byte windows the core must read computed here
// once, so the core reads exactly the head and tail the index needs.
import type { DriverInfo, ProbeTest } from '../model.js';
import { PROBE_BUFFER_SIZE, type IndexedProbe, type ProbeIndex } from '../runtime/probe.js';
import { intWidth, isIntKey } from './validate.js';

export interface CompiledProbes {
  index: ProbeIndex;
  /** Probe module id -> path relative to the config root. */
  modules: Map<string, string>;
}

export function compileProbeIndex(drivers: readonly DriverInfo[], modulePath: (driver: DriverInfo, module: string) => string): CompiledProbes {
  const modules = new Map<string, string>();
  const entries: { name: string; probes: IndexedProbe[] }[] = [];
  let tailBytes = 0;
  let headBytes = 0;
  const formats = drivers.filter((d) => d.kind === 'format' && d.state !== 'disabled' && d.probes.length > 0);
  for (const driver of [...formats].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const probes: IndexedProbe[] = driver.probes.map((probe) => {
      const tests = probe.match === undefined ? [] : Array.isArray(probe.match) ? [...probe.match] : [probe.match as ProbeTest];
      for (const test of tests) {
        const [head, tail] = window(test);
        headBytes = Math.max(headBytes, head);
        tailBytes = Math.max(tailBytes, tail);
      }
      if (probe.module === undefined) return { score: probe.score, tests };
      const id = modulePath(driver, probe.module);
      modules.set(id, id);
      // A probe module sees QEMU's whole probe buffer.
      headBytes = Math.max(headBytes, PROBE_BUFFER_SIZE);
      return { score: probe.score, tests, module: id };
    });
    entries.push({ name: driver.name, probes });
  }
  return { index: { headBytes: Math.min(headBytes, PROBE_BUFFER_SIZE), tailBytes, drivers: entries }, modules };
}

/** Bytes a test needs from the head and from the tail of the file. */
function window(test: ProbeTest): [number, number] {
  if ('minLength' in test) return [test.minLength, 0];
  if ('suffix' in test) return [0, 0];
  if ('any' in test) {
    let head = 0;
    let tail = 0;
    for (const alternative of test.any) {
      for (const t of (Array.isArray(alternative) ? alternative : [alternative]) as ProbeTest[]) {
        const [h, tl] = window(t);
        head = Math.max(head, h);
        tail = Math.max(tail, tl);
      }
    }
    return [head, tail];
  }
  const key = Object.keys(test).find((k) => k !== 'at' && k !== 'mask')!;
  const value = (test as Record<string, unknown>)[key];
  const length = isIntKey(key) ? intWidth(key) / 8 : key === 'hex' ? String(value).length / 2 : key === 'cstring' ? String(value).length + 1 : String(value).length;
  return test.at >= 0 ? [test.at + length, 0] : [0, -test.at];
}
