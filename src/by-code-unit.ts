/**
 * Plain UTF-16 code-unit order, the total order of everything gen-modules writes (tables, the
 * probe index, manifests, diagnostics): unlike localeCompare it does not depend on the machine's
 * locale, so the same inputs give the same bytes everywhere.
 */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
