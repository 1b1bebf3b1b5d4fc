// System tools the tests use (qemu-img, qemu-nbd, chromium, SeaBIOS). A missing tool skips the
// test with a printed reason, except under GEN_MODULES_REQUIRE_SYSTEM=1 (CI), where it fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const cache = new Map<string, boolean>();

/** Whether `name` is an executable on PATH, or an existing absolute path. */
export function hasTool(name: string): boolean {
  let found = cache.get(name);
  if (found === undefined) {
    found = name.startsWith('/') ? existsSync(name) : spawnSync('sh', ['-c', `command -v ${JSON.stringify(name)}`]).status === 0;
    cache.set(name, found);
  }
  return found;
}

export const systemRequired = process.env.GEN_MODULES_REQUIRE_SYSTEM === '1';

/**
 * True when the tool is there. Otherwise prints why the caller skips and returns false, or throws
 * when GEN_MODULES_REQUIRE_SYSTEM=1.
 */
export function requireTool(name: string, why = 'this test'): boolean {
  if (hasTool(name)) return true;
  const message = `${name} is not installed: ${why} needs it (Debian: apt-get install ${debianPackage(name)})`;
  if (systemRequired) throw new Error(`${message}; GEN_MODULES_REQUIRE_SYSTEM=1 forbids skipping`);
  console.warn(`skipped: ${message}`);
  return false;
}

function debianPackage(tool: string): string {
  if (tool.startsWith('qemu-')) return 'qemu-utils';
  if (tool.includes('chromium')) return 'chromium';
  if (tool.includes('seabios')) return 'seabios';
  return tool;
}

/**
 * Runs a tool (mostly qemu's) and returns its stdout; throws with its stderr when it fails. LUKS
 * creation and new key slots benchmark PBKDF2 first (iter-time), which on a busy machine fails now
 * and then with "Unable to get accurate CPU usage" (QEMU 7.2 qcrypto_pbkdf2_count_iters: its thread's
 * CPU time read as unchanged across a PBKDF2 run). On this 2-core machine one bare `qemu-img create
 * -f luks` in 6 failed so, and under the test suite's load five immediate retries all failed once:
 * such runs are tried again, up to ten times in all, with a growing pause between (0.1 s, 0.2 s, ...)
 * so that a busy moment can pass.
 */
export function runTool(tool: string, args: string[], cwd?: string): string {
  for (let attempt = 1; ; attempt++) {
    // Room for large outputs (`qemu-img map --output=json` of a big image).
    const result = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...(cwd ? { cwd } : {}) });
    if (result.status === 0) return result.stdout;
    if (attempt >= 10 || !/accurate CPU usage/.test(result.stderr)) throw new Error(`${tool} ${args.join(' ')}: ${result.stderr || result.stdout}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100 * attempt);
  }
}
