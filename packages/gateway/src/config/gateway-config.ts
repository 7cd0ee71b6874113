import type { InferenceErrorKind, RouteStrategy, WeightSource } from '@inferkit/inference-core';

/**
 * The CLI's config file (JSON). Each model names a runner package (or file) whose exported
 * `runnerFactory` builds it; `options` go to `runnerFactory.create` untouched (it validates
 * them). Example:
 *
 * ```json
 * {
 *   "port": 8080,
 *   "apiKeysEnv": "INFERKIT_GATEWAY_KEYS",
 *   "models": {
 *     "inferkit-tiny": {
 *       "runner": "cuda",
 *       "options": { "device": "auto" },
 *       "weights": { "kind": "local_path", "path": "../../models/inferkit-tiny" },
 *       "contextTokens": 1024,
 *       "supervise": { "serving": { "maxConcurrent": 8, "onCapacityExhausted": "queue" } }
 *     },
 *     "gpt-4o-mini": { "runner": "remote", "options": { "provider": "openai" } },
 *     "echo": { "runner": "@inferkit/example-custom-runner", "options": { "prefix": ">" } }
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
  /** Entries that name a runner, by name. */
  models: Record<string, ModelConfig>;
  /** Entries that route over other entries (`"route": { … }`), by name; names are unique across both maps. */
  routes: Record<string, RouteConfig>;
  /**
   * Where the models' `supervise` policies keep their rate-limit, breaker and budget state, so
   * that several gateways share them (`undefined`: each process alone, in memory).
   */
  store: StoreConfig | undefined;
  /** Directory of the config file; relative paths resolve from here. */
  baseDir: string;
}

/**
 * `"store": { "redis": { "url": "redis://127.0.0.1:6379", "prefix": "inferkit:", "mode": "strict" } }`:
 * the package (resolved from the config's directory, like runners) and the options its
 * `policyStoreFactory.create` validates.
 */
export interface StoreConfig {
  /** The kind named in the config (`redis`). */
  kind: string;
  /** The package that provides it. */
  module: string;
  /** Handed to `policyStoreFactory.create` as written. */
  options: Record<string, unknown>;
}

/** Store kinds the config may name, and their packages. */
export const STORE_KINDS: Readonly<Record<string, string>> = { redis: '@inferkit/store-redis' };

/** Where a model's `runnerFactory` comes from. */
export interface RunnerReference {
  /** A package name or a file path (relative to the config's directory), as written or from an alias. */
  module: string;
  /** The export holding the `RunnerFactory` (default `runnerFactory`). */
  export: string;
}

export interface ModelConfig {
  /**
   * `"cuda"`, `"python"`, `"remote"` (aliases of this repository's runner packages), any other
   * package name or file path, or `{ "module": …, "export": … }` for a factory exported under
   * another name.
   */
  runner: RunnerReference;
  /** Handed to `runnerFactory.create` as written (`undefined` when absent). */
  options: unknown;
  /** Model id sent to the runner (default: the key in `models`). */
  runnerModel: string | undefined;
  /** Weights to load before serving (`local_path` paths resolve from the config's directory). */
  weights: WeightSource | undefined;
  /**
   * Policy for the core's `supervise`. Local runners (`transportKind().kind === 'local'`) are
   * supervised with `rebuild: DEFAULT_REBUILD_POLICY` unless the policy sets `rebuild` (an object,
   * or `false` for none); `false` for the whole block serves the runner as created.
   */
  supervise: Record<string, unknown> | false | undefined;
  /** `GatewayModel.contextTokens`: the context window, for the cheap prompt bound. */
  contextTokens: number | undefined;
  /** `GatewayModel.maxPromptChars`. */
  maxPromptChars: number | undefined;
  /**
   * Copies of the runner, each created by the factory (a local engine: its own process or
   * memory) and supervised on its own. 1: the runner itself. N > 1: the entry is served by a
   * `least_loaded` router over copies named `<name>#0` … `<name>#N-1` that resumes a stream on
   * another copy (`maxResumes: N - 1`) when one dies mid-answer.
   */
  replicas: number;
  /** `GatewayModel.hidden`: only reachable as a route's target. */
  hidden: boolean;
}

/** One target of a route entry. */
export interface RouteTargetConfig {
  /** The entry it sends to (a runner entry or another route). */
  model: string;
  /** Model id the target's runner receives instead of the entry's own (`RouteTarget.model`). */
  as: string | undefined;
  /** `RouteTarget.weight`. */
  weight: number | undefined;
  /** `RouteTarget.maxConcurrent`. */
  maxConcurrent: number | undefined;
}

/**
 * An entry served by the core's `route()` over other entries:
 *
 * ```json
 * "chat": { "route": { "strategy": "fallback", "targets": ["local-qwen", { "model": "hosted", "as": "gpt-4.1-mini" }], "resume": { "maxResumes": 1 } } }
 * ```
 */
export interface RouteConfig {
  strategy: RouteStrategy;
  /** In order (the order `fallback` tries them). */
  targets: RouteTargetConfig[];
  /** `RouteOptions.resume`. */
  resume: { maxResumes: number } | undefined;
  /** `RouteOptions.fallbackOn`. */
  fallbackOn: InferenceErrorKind[] | undefined;
  /** `RouteOptions.maxCostUsd`. */
  maxCostUsd: number | undefined;
  /** `RouteOptions.circuitBreaker` (checked by `route()` when the gateway starts). */
  circuitBreaker: Record<string, unknown> | undefined;
  /** `GatewayModel.hidden`. */
  hidden: boolean;
  /** `GatewayModel.contextTokens`. */
  contextTokens: number | undefined;
  /** `GatewayModel.maxPromptChars`. */
  maxPromptChars: number | undefined;
}

/** Most copies one entry's `replicas` may ask for. */
export const MAX_REPLICAS = 64;

/** Short names for this repository's runner packages. */
export const RUNNER_ALIASES: Readonly<Record<string, string>> = {
  cuda: '@inferkit/runner-cuda',
  python: '@inferkit/runner-python',
  remote: '@inferkit/runner-remote',
};

/** The export a runner package provides (`RunnerFactory`, see the core's README). */
export const RUNNER_FACTORY_EXPORT = 'runnerFactory';

/**
 * Automatic session rebuilds for local runners when the config does not say otherwise: a crashed
 * Python worker or a poisoned CUDA context is rebuilt up to 3 times in 10 minutes; past that the
 * model stays down (and `/healthz` says so) until the gateway restarts.
 */
export const DEFAULT_REBUILD_POLICY: Readonly<{ maxRebuilds: number; windowMs: number }> = Object.freeze({ maxRebuilds: 3, windowMs: 10 * 60_000 });
