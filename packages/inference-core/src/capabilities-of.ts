import type { ModelRunner } from './model-runner.js';
import { RUNNER_CAPABILITY_NAMES, type RunnerCapabilities } from './runner-capabilities.js';

/**
 * A runner's capabilities with the defaults applied: every field present, `false` unless the
 * runner's `capabilities()` says `true`. A runner without `capabilities()` can do none of them.
 */
export function capabilitiesOf(runner: Pick<ModelRunner, 'capabilities'>): Required<RunnerCapabilities> {
  const declared = typeof runner.capabilities === 'function' ? runner.capabilities() : undefined;
  const out = {} as Required<RunnerCapabilities>;
  for (const name of RUNNER_CAPABILITY_NAMES) out[name] = declared?.[name] === true;
  return out;
}
