import type { ModelRunner } from './model-runner.js';

/**
 * The one registry entry every runner package exports as `runnerFactory`. The gateway (and any
 * other loader) creates runners only through it, so options are validated in one place.
 *
 * `create` validates `options` and rejects anything wrong with `InferenceError('bad_request')`
 * whose `details.param` names the parameter — unknown keys included, so a misspelt option never
 * passes silently. A runner's class or `create…Runner` helper must construct and validate exactly
 * as `create` does.
 */
export interface RunnerFactory<Options = unknown> {
  /** The name a config file uses for this runner (`'cuda'`, `'python'`, `'remote'`, `'custom:…'`). */
  readonly kind: string;
  /** Validates `options` and builds a runner. */
  create(options: Options): ModelRunner | Promise<ModelRunner>;
}
