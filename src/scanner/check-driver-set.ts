// Checks across drivers: names and prefixes must be unique, and no two formats may claim the same
// definite signature (the index could not tell them apart; QEMU would pick by link order).
import type { DriverInfo } from '../model.js';
import { diagnostics as d } from '../diagnostics/codes.js';
import type { Diagnostic } from '../diagnostics/diagnostic.js';
import { byCodeUnit } from '../by-code-unit.js';

export function checkDriverSet(drivers: readonly DriverInfo[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const sorted = [...drivers].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.location.line - b.location.line));
  const names = new Map<string, DriverInfo>();
  const prefixes = new Map<string, DriverInfo>();
  const signatures = new Map<string, DriverInfo>();
  for (const driver of sorted) {
    const key = `${driver.registry}:${driver.name}`;
    const first = names.get(key);
    if (first) out.push(d.duplicateName(driver.location, driver.kind, driver.name, { ...first.location, message: 'first declared here' }));
    else names.set(key, driver);
    for (const prefix of driver.prefixes) {
      const owner = prefixes.get(prefix);
      if (owner) out.push(d.duplicatePrefix(driver.location, prefix, { ...owner.location, message: `declared by '${owner.name}' here` }));
      else prefixes.set(prefix, driver);
    }
    for (const probe of driver.probes) {
      if (probe.score < 100 || probe.module !== undefined) continue;
      let signature = canonicalByProbe.get(probe);
      if (signature === undefined) {
        signature = canonical(Array.isArray(probe.match) ? probe.match : [probe.match]);
        canonicalByProbe.set(probe, signature);
      }
      const other = signatures.get(signature);
      if (other && other.name !== driver.name) {
        out.push(d.duplicateSignature(driver.location, driver.name, other.name, { ...other.location, message: `'${other.name}' declares it here` }));
      } else signatures.set(signature, driver);
    }
  }
  return out;
}

/** Canonical texts by probe (a watcher checks the same probes after every change). */
const canonicalByProbe = new WeakMap<object, string>();

/** A canonical text of a match: conjunctions are order-independent. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).sort().join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => byCodeUnit(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
