import type { RunnerCapabilities } from '@inferkit/inference-core';
import type { EngineInfo } from './protocol.js';

// What the built-in adapters declare when everything they can use is there (a recent vLLM with
// structured outputs, transformers ≥ 4.45 with `continue_final_message`). The worker's ready
// frame has the final word: an older library declares less.
const BUILT_IN: Readonly<Record<string, RunnerCapabilities>> = {
  vllm: Object.freeze({ responseFormat: true, continuation: true, penalties: true }),
  transformers: Object.freeze({ continuation: true }),
};
const NONE: RunnerCapabilities = Object.freeze({});

/**
 * The capabilities of a `PythonRunner`: what its engine declared in the ready frame once the
 * worker is up; before that, what the configured built-in engine supports, and nothing for a
 * custom engine (its declaration is only known once it runs: `loadWeights()` starts it).
 * With `promptTemplate` the runner renders a prompt itself, so the engine never sees the
 * messages: neither continuation nor images can reach it.
 */
export function engineCapabilities(engine: string, ready: EngineInfo | undefined, promptTemplate: boolean): RunnerCapabilities {
  const declared = ready !== undefined ? ready.capabilities : (BUILT_IN[engine] ?? NONE);
  if (!promptTemplate || (declared.continuation !== true && declared.images !== true)) return declared;
  const { continuation: _c, images: _i, ...rest } = declared;
  return Object.freeze(rest);
}
