import type { RunnerFactory } from '@inferkit/inference-core';
import { PythonRunner } from './python-runner.js';
import type { PythonRunnerOptions } from './python-runner-options.js';

/**
 * The registry entry a gateway config loads (`{ "runner": "@inferkit/runner-python", "options":
 * { "engine": "vllm", ... } }`). Validates exactly as `new PythonRunner(options)` does; nothing is
 * started until the first request or `loadWeights`.
 */
export const runnerFactory: RunnerFactory<PythonRunnerOptions> = {
  kind: 'python',
  create: (options) => new PythonRunner(options),
};
