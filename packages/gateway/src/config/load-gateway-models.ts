import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  InferenceError,
  supervise,
  type ModelRunner,
  type RunnerFactory,
  type SuperviseEvent,
  type SupervisePolicy,
  type WeightLoadProgress,
} from '@inferkit/inference-core';
import type { GatewayModel } from '../gateway-options.js';
import { ModelHealth } from '../health/model-health.js';
import { Redactor } from '../log/redactor.js';
import { DEFAULT_REBUILD_POLICY, type GatewayConfig, type ModelConfig, type RunnerReference } from './gateway-config.js';
import { GatewayConfigError } from './parse-gateway-config.js';

export interface LoadModelsOptions {
  /** Weight-loading progress, per model. */
  onProgress?: (model: string, progress: WeightLoadProgress) => void;
  /** `supervise`'s events, per model (rebuilds, breaker transitions, retries, …). */
  onEvent?: (model: string, event: SuperviseEvent) => void;
}

/** The runners created from a config, plus a way to close them all. */
export interface LoadedModels {
  models: Record<string, GatewayModel>;
  /** Closes every runner that has `close()`; errors are collected, not thrown one by one. */
  close(): Promise<void>;
}

function isRunnerFactory(v: unknown): v is RunnerFactory {
  return typeof v === 'object' && v !== null && typeof (v as RunnerFactory).kind === 'string' && typeof (v as RunnerFactory).create === 'function';
}

function isRunner(v: unknown): v is ModelRunner {
  return typeof v === 'object' && v !== null && typeof (v as ModelRunner).execute === 'function';
}

async function importFactory(ref: RunnerReference, baseDir: string, at: string): Promise<RunnerFactory> {
  // Resolve as the config's directory would, so the application's dependencies are used.
  const require = createRequire(join(baseDir, 'noop.js'));
  let resolved: string;
  try {
    resolved = require.resolve(ref.module);
  } catch {
    throw new GatewayConfigError(at, `cannot find module '${ref.module}' from ${baseDir}; install it next to the config`);
  }
  const mod = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  // A CommonJS module imported from ESM keeps its exports on `default`.
  const factory = mod[ref.export] ?? (mod.default as Record<string, unknown> | undefined)?.[ref.export];
  if (!isRunnerFactory(factory)) {
    throw new GatewayConfigError(at, `module '${ref.module}' does not export a RunnerFactory ({ kind, create }) named '${ref.export}'`);
  }
  return factory;
}

/** `factory.create(options)`, its errors turned into config errors naming the option. */
async function createRunner(name: string, m: ModelConfig, factory: RunnerFactory, redactor: Redactor): Promise<ModelRunner> {
  const at = `config.models.${name}`;
  let made: unknown;
  try {
    made = await factory.create(m.options);
  } catch (e) {
    const message = redactor.redact(e instanceof Error ? e.message : String(e));
    if (InferenceError.isInstance(e) && e.kind === 'bad_request') {
      const param = (e.details as { param?: unknown }).param;
      throw new GatewayConfigError(typeof param === 'string' && param !== 'options' ? `${at}.options.${param}` : `${at}.options`, message);
    }
    throw new GatewayConfigError(`${at}.runner`, `${factory.kind}: cannot create the runner: ${message}`);
  }
  if (!isRunner(made)) throw new GatewayConfigError(`${at}.runner`, `${factory.kind}: create() did not return a ModelRunner`);
  return made;
}

/**
 * The policy `supervise` gets for a model, or `undefined` to serve the runner as created. Local
 * runners get `DEFAULT_REBUILD_POLICY` unless the config sets `rebuild` (`false`: none).
 */
function policyFor(m: ModelConfig, runner: ModelRunner): Record<string, unknown> | undefined {
  if (m.supervise === false) return undefined;
  const policy: Record<string, unknown> = { ...m.supervise };
  if (policy.rebuild === false) delete policy.rebuild;
  else if (policy.rebuild === undefined && runner.transportKind().kind === 'local') policy.rebuild = { ...DEFAULT_REBUILD_POLICY };
  return m.supervise === undefined && policy.rebuild === undefined ? undefined : policy;
}

/**
 * Creates every model's runner through its package's `runnerFactory` (all before any weights
 * load, so a typo fails fast), wraps it with `supervise` where configured (and local runners
 * with automatic rebuilds), and starts loading weights. Each model's `ready` settles when its
 * weights are in; its `health` follows `supervise`'s rebuild events.
 */
export async function loadGatewayModels(config: GatewayConfig, options: LoadModelsOptions = {}): Promise<LoadedModels> {
  const redactor = Redactor.fromEnvironment();
  const created: Array<{ name: string; raw: ModelRunner; config: ModelConfig }> = [];
  const closeAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    await Promise.all(
      created.map(async ({ raw }) => {
        try {
          await raw.close?.();
        } catch (e) {
          errors.push(e);
        }
      }),
    );
    if (errors.length > 0) throw new AggregateError(errors, 'some runners failed to close');
  };
  const models: Record<string, GatewayModel> = {};
  try {
    for (const [name, m] of Object.entries(config.models)) {
      const factory = await importFactory(m.runner, config.baseDir, `config.models.${name}.runner`);
      created.push({ name, raw: await createRunner(name, m, factory, redactor), config: m });
    }
    for (const { name, raw, config: m } of created) {
      const health = new ModelHealth();
      let runner = raw;
      const policy = policyFor(m, raw);
      if (policy !== undefined) {
        const onEvent = options.onEvent;
        const observe = (e: SuperviseEvent): void => {
          health.observe(e);
          onEvent?.(name, e);
        };
        try {
          // Nested fields are supervise's to check: it throws a RangeError naming the field.
          runner = supervise(raw, { ...(policy as SupervisePolicy), onEvent: observe });
        } catch (e) {
          throw new GatewayConfigError(`config.models.${name}.supervise`, (e as Error).message);
        }
      }
      const entry: GatewayModel = { runner, health };
      if (m.runnerModel !== undefined) entry.runnerModel = m.runnerModel;
      if (m.contextTokens !== undefined) entry.contextTokens = m.contextTokens;
      if (m.maxPromptChars !== undefined) entry.maxPromptChars = m.maxPromptChars;
      models[name] = entry;
    }
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
  for (const { name, raw, config: m } of created) {
    if (m.weights === undefined || typeof raw.loadWeights !== 'function') continue;
    const onProgress = options.onProgress;
    const ready = raw.loadWeights(m.weights, onProgress === undefined ? {} : { onProgress: (p) => onProgress(name, p) });
    // The gateway observes the outcome; this keeps an early failure from being "unhandled".
    ready.catch(() => undefined);
    models[name]!.ready = ready;
  }
  return { models, close: closeAll };
}
