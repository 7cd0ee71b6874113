import type { ModelRunner } from './model-runner.js';

/**
 * Whether `runner` serializes on a Python GIL: its own `gilPinned()` if it has one, else true for
 * `vllm` and `python:*` runtimes.
 */
export function isGilPinned(runner: Pick<ModelRunner, 'runtimeKind' | 'gilPinned'>): boolean {
  if (typeof runner.gilPinned === 'function') return runner.gilPinned();
  const kind = runner.runtimeKind();
  return kind === 'vllm' || kind.startsWith('python:');
}
