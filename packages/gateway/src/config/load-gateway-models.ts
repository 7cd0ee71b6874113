import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModelRunner, WeightLoadProgress } from '@inferkit/inference-core';
import type { GatewayModel } from '../gateway-options.js';
import type { GatewayConfig, ModelConfig, RunnerReference } from './gateway-config.js';
import { GatewayConfigError } from './parse-gateway-config.js';

/** Applies a `supervise` policy from the config to a runner (the core's `supervise`). */
export type SuperviseFn = (runner: ModelRunner, policy: Record<string, unknown>) => ModelRunner;

export interface LoadModelsOptions {
  /** Wraps runners whose config has a `supervise` policy. */
  supervise: SuperviseFn;
  /** Weight-loading progress, per model. */
  onProgress?: (model: string, progress: WeightLoadProgress) => void;
}

/** The runners created from a config, plus a way to close them all. */
export interface LoadedModels {
  models: Record<string, GatewayModel>;
  /** Closes every runner that has `close()`; errors are collected, not thrown one by one. */
  close(): Promise<void>;
}

async function importRunnerExport(ref: RunnerReference, baseDir: string, at: string): Promise<unknown> {
  // Resolve as the config's directory would, so the application's dependencies are used.
  const require = createRequire(join(baseDir, 'noop.js'));
  let resolved: string;
  try {
    resolved = require.resolve(ref.module);
  } catch {
    throw new GatewayConfigError(at, `cannot find module '${ref.module}' from ${baseDir}; install it next to the config`);
  }
  const mod = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  const exp = mod[ref.export] ?? (mod.default as Record<string, unknown> | undefined)?.[ref.export];
  if (typeof exp !== 'function') throw new GatewayConfigError(at, `module '${ref.module}' has no export '${ref.export}'`);
  return exp;
}

function isClass(fn: Function): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

function isRunner(v: unknown): v is ModelRunner {
  return typeof v === 'object' && v !== null && typeof (v as ModelRunner).execute === 'function';
}

async function createRunner(name: string, m: ModelConfig, baseDir: string): Promise<ModelRunner> {
  const at = `config.models.${name}.runner`;
  const exp = (await importRunnerExport(m.runner, baseDir, at)) as Function;
  const made: unknown = isClass(exp)
    ? new (exp as new (o: unknown) => unknown)(m.options)
    : await (exp as (o: unknown) => unknown)(m.options);
  if (!isRunner(made)) throw new GatewayConfigError(at, `'${m.runner.export}' did not produce a ModelRunner`);
  return made;
}

/**
 * Creates every model's runner (all before any weights load, so a typo fails fast), wraps it with
 * `supervise` where configured, and starts loading weights. Each model's `ready` settles when its
 * weights are in; the gateway answers 503 for it until then.
 */
export async function loadGatewayModels(config: GatewayConfig, options: LoadModelsOptions): Promise<LoadedModels> {
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
  try {
    for (const [name, m] of Object.entries(config.models)) {
      created.push({ name, raw: await createRunner(name, m, config.baseDir), config: m });
    }
  } catch (e) {
    await closeAll().catch(() => undefined);
    throw e;
  }
  const models: Record<string, GatewayModel> = {};
  const runners = new Map<string, ModelRunner>();
  for (const { name, raw, config: m } of created) {
    if (m.supervise === undefined) {
      runners.set(name, raw);
      continue;
    }
    try {
      runners.set(name, options.supervise(raw, m.supervise));
    } catch (e) {
      await closeAll().catch(() => undefined);
      throw new GatewayConfigError(`config.models.${name}.supervise`, (e as Error).message);
    }
  }
  for (const { name, raw, config: m } of created) {
    const runner = runners.get(name)!;
    const entry: GatewayModel = { runner };
    if (m.runnerModel !== undefined) entry.runnerModel = m.runnerModel;
    if (m.weights !== undefined && typeof raw.loadWeights === 'function') {
      const onProgress = options.onProgress;
      const ready = raw.loadWeights(m.weights, onProgress === undefined ? {} : { onProgress: (p) => onProgress(name, p) });
      // The gateway observes the outcome; this keeps an early failure from being "unhandled".
      ready.catch(() => undefined);
      entry.ready = ready;
    }
    models[name] = entry;
  }
  return { models, close: closeAll };
}
