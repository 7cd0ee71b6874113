/** Options for a PythonRunner on the stdlib test engine in test/fixtures/inferkit_test_engines.py. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupHasLiveMember } from '../process-group.js';
import type { PythonRunnerOptions } from '../python-runner-options.js';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures');

export function scriptedOptions(overrides: Partial<PythonRunnerOptions> = {}): PythonRunnerOptions {
  return {
    engine: 'inferkit_test_engines:create',
    name: 'scripted',
    pythonPath: [FIXTURES_DIR],
    startupTimeoutMs: 20_000,
    shutdownGraceMs: 5_000,
    ...overrides,
  };
}

/** Options for a PythonRunner on the hostile engines in test/fixtures/inferkit_hostile_engines.py. */
export function hostileOptions(overrides: Partial<PythonRunnerOptions> = {}): PythonRunnerOptions {
  return scriptedOptions({ engine: 'inferkit_hostile_engines:create', name: 'hostile', ...overrides });
}

/** Resolves once `condition()` holds; rejects after `timeoutMs` (a deadline, not a count of turns). */
export async function eventually(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Whether a process (or, with a negative id, a process group) still runs. A zombie does not count:
 * a killed grandchild is reparented to PID 1, which in a container may reap it late.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (pid < 0) return groupHasLiveMember(-pid) === true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}
