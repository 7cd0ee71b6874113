import type { ModelRunner } from '@inferkit/inference-core';

/** One model of the provider, when the runner needs a model name other than the key. */
export interface InferkitModelEntry {
  /** The runner that serves the model: local, remote, `supervise`d or `route`d. */
  runner: ModelRunner;
  /**
   * `ExecuteBatch.model`: the model name as the runner knows it (a provider's model id such as
   * `'gpt-4o-mini'`). Default: the key under `models`.
   */
  model?: string;
}

/** Settings of `createInferkit`. */
export interface InferkitProviderSettings {
  /**
   * The models the provider serves, by the id passed to `inferkit(id)`: a runner, or a runner
   * with the model name it expects.
   */
  models: Record<string, ModelRunner | InferkitModelEntry>;
}
