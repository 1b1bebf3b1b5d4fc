// Classes registered by their decorators when their module is evaluated. Kept on globalThis under
// a registered symbol so that two copies of the runtime (two bundles on one page, a test that
// loads source and built code) still share one table instead of silently missing drivers.

export interface RegisteredClass {
  readonly registry: string;
  readonly name: string;
  readonly target: unknown;
  readonly options: unknown;
}

const KEY = Symbol.for('gen-modules.registered-classes');

function store(): Map<string, RegisteredClass> {
  const holder = globalThis as { [KEY]?: Map<string, RegisteredClass> };
  return (holder[KEY] ??= new Map());
}

export function registerDriverClass(registry: string, name: string, target: unknown, options: unknown): void {
  store().set(`${registry}\u0000${name}`, { registry, name, target, options });
}

export function registeredClass(registry: string, name: string): RegisteredClass | undefined {
  return store().get(`${registry}\u0000${name}`);
}
