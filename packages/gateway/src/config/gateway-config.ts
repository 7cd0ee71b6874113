import type { WeightSource } from '@inferkit/inference-core';

/**
 * The CLI's config file (JSON). Example:
 *
 * ```json
 * {
 *   "host": "127.0.0.1",
 *   "port": 8080,
 *   "apiKeysEnv": "INFERKIT_GATEWAY_KEYS",
 *   "models": {
 *     "inferkit-tiny": {
 *       "runner": "cuda",
 *       "options": { "device": "auto" },
 *       "weights": { "kind": "local_path", "path": "../../models/inferkit-tiny" },
 *       "supervise": { "rateLimits": { "maxConcurrent": 8 } }
 *     },
 *     "gpt-4o-mini": {
 *       "runner": { "module": "@inferkit/runner-remote", "export": "createOpenAIRunner" },
 *       "options": { "apiKeyEnv": "OPENAI_API_KEY" }
 *     }
 *   }
 * }
 * ```
 *
 * Runner modules are resolved from the config file's directory, so the application that owns
 * the config owns the runner dependencies; the gateway itself depends on the core only.
 */
export interface GatewayConfig {
  /** Listen address (default 127.0.0.1). */
  host: string;
  /** Listen port (default 8080; 0 picks a free one). */
  port: number;
  /** Name of an environment variable holding comma-separated bearer keys; keys never sit in the file. */
  apiKeysEnv: string | undefined;
  /** `Host` values served besides the loopback ones (`GatewayOptions.allowedHosts`; `["*"]`: any). */
  allowedHosts: string[] | undefined;
  /** Largest request body in bytes. */
  maxBodyBytes: number | undefined;
  /** Drain time on SIGINT/SIGTERM (ms). */
  shutdownGraceMs: number | undefined;
  models: Record<string, ModelConfig>;
  /** Directory of the config file; relative paths resolve from here. */
  baseDir: string;
}

/** A runner export: a class (constructed with `new`) or a factory function (called; may be async). */
export interface RunnerReference {
  module: string;
  export: string;
}

export interface ModelConfig {
  /** A known kind (`cuda`, `python`, `openai`, `openai-compatible`, `anthropic`, `gemini`, `scripted`) or a module reference. */
  runner: RunnerReference;
  /** Passed as the single argument of the constructor or factory. */
  options: Record<string, unknown>;
  /** Model id sent to the runner (default: the key in `models`). */
  runnerModel: string | undefined;
  /** Weights to load before serving (`local_path` paths resolve from the config's directory). */
  weights: WeightSource | undefined;
  /** Policy for the core's `supervise`; omitted: the runner is served as is. */
  supervise: Record<string, unknown> | undefined;
}

/**
 * Runner kinds the config may name instead of a module reference. Each must be installed next to
 * the config (a dependency of the application) to be usable.
 */
export const RUNNER_KINDS: Readonly<Record<string, RunnerReference>> = {
  cuda: { module: '@inferkit/runner-cuda', export: 'CudaRunner' },
  python: { module: '@inferkit/runner-python', export: 'PythonRunner' },
  openai: { module: '@inferkit/runner-remote', export: 'createOpenAIRunner' },
  'openai-compatible': { module: '@inferkit/runner-remote', export: 'createOpenAICompatibleRunner' },
  anthropic: { module: '@inferkit/runner-remote', export: 'createAnthropicRunner' },
  gemini: { module: '@inferkit/runner-remote', export: 'createGeminiRunner' },
  scripted: { module: '@inferkit/inference-core/testing', export: 'ScriptedRunner' },
};
