/** Options for a PythonRunner on the stdlib test engine in test/fixtures/inferkit_test_engines.py. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** Whether a process (or, with a negative id, a process group) still exists. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
