import {
  InferenceError,
  route,
  supervise,
  type ModelRunner,
  type RouteEvent,
  type RouteTarget,
  type RunnerFactory,
  type SuperviseEvent,
  type SupervisePolicy,
  type WeightLoadProgress,
} from '@inferkit/inference-core';
import type { GatewayModel } from '../gateway-options.js';
import { ModelHealth } from '../health/model-health.js';
import { RouteHealth } from '../health/route-health.js';
import { Redactor } from '../log/redactor.js';
import { DEFAULT_REBUILD_POLICY, type GatewayConfig, type ModelConfig, type RouteConfig, type RunnerReference } from './gateway-config.js';
import { importFromConfigDir } from './import-from-config-dir.js';
import { GatewayConfigError } from './parse-gateway-config.js';

export interface LoadModelsOptions {
  /** Weight-loading progress, per model. */
  onProgress?: (model: string, progress: WeightLoadProgress) => void;
  /** `supervise`'s events, per model (rebuilds, breaker transitions, retries, …); replicas by their own name (`local#1`). */
  onEvent?: (model: string, event: SuperviseEvent) => void;
  /** `route()`'s events, per routed model (routes and replica groups): failovers, resumes, targets down and up. */
  onRouteEvent?: (model: string, event: RouteEvent) => void;
  /**
   * Added to every `supervise` policy: the config's shared `store`, a `tracer`. The policy's
   * `name`, the key of its shared state, is the model's (a replica's: `local#1`) unless the config
   * sets one.
   */
  shared?: Pick<SupervisePolicy, 'store' | 'tracer'>;
}

/** The runners created from a config, plus a way to close them all. */
export interface LoadedModels {
  models: Record<string, GatewayModel>;
  /**
   * Each runner as its factory created it (before `supervise`), by model name, or by replica
   * name (`local#0`) for replicated entries: for what only the runner's own API offers.
   */
  runners: Record<string, ModelRunner>;
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
  const factory = await importFromConfigDir(ref.module, ref.export, baseDir, at);
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

/** Route entries, each after the routes it targets (the config has no cycles: the parser checked). */
function routeOrder(routes: Record<string, RouteConfig>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  const visit = (name: string): void => {
    if (done.has(name)) return;
    done.add(name);
    for (const t of routes[name]!.targets) if (t.model in routes) visit(t.model);
    out.push(name);
  };
  for (const name of Object.keys(routes)) visit(name);
  return out;
}

/** `route()` for a config entry; its construction errors become config errors naming the entry. */
function buildRouter(at: string, targets: RouteTarget[], options: Parameters<typeof route>[1]): ModelRunner {
  try {
    return route(targets, options);
  } catch (e) {
    throw new GatewayConfigError(at, (e as Error).message);
  }
}

/**
 * Creates every model's runner through its package's `runnerFactory` (all before any weights
 * load, so a typo fails fast; `replicas` copies each), wraps it with `supervise` where
 * configured (and local runners with automatic rebuilds), builds the routers of replica groups
 * and route entries over them, and starts loading weights. Each model's `ready` settles when its
 * weights are in; its `health` follows `supervise`'s rebuild events (a routed model's, its
 * targets'). Replicas are models of their own (`<name>#<i>`), hidden, so `/healthz` shows each.
 */
export async function loadGatewayModels(config: GatewayConfig, options: LoadModelsOptions = {}): Promise<LoadedModels> {
  const redactor = Redactor.fromEnvironment();
  const created: Array<{ name: string; raw: ModelRunner; config: ModelConfig; replica: boolean }> = [];
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
      for (let i = 0; i < m.replicas; i++) {
        const replica = m.replicas > 1;
        created.push({ name: replica ? `${name}#${i}` : name, raw: await createRunner(name, m, factory, redactor), config: m, replica });
      }
    }
    for (const { name, raw, config: m, replica } of created) {
      const health = new ModelHealth();
      let runner = raw;
      const policy = policyFor(m, raw);
      if (policy !== undefined) {
        const onEvent = options.onEvent;
        const observe = (e: SuperviseEvent): void => {
          health.observe(e);
          onEvent?.(name, e);
        };
        const at = `config.models.${replica ? name.slice(0, name.lastIndexOf('#')) : name}.supervise`;
        try {
          // Nested fields are supervise's to check: it throws a RangeError naming the field.
          runner = supervise(raw, { name, ...(policy as SupervisePolicy), ...options.shared, onEvent: observe });
        } catch (e) {
          throw new GatewayConfigError(at, (e as Error).message);
        }
      }
      const entry: GatewayModel = { runner, health };
      if (m.runnerModel !== undefined) entry.runnerModel = m.runnerModel;
      if (m.contextTokens !== undefined) entry.contextTokens = m.contextTokens;
      if (m.maxPromptChars !== undefined) entry.maxPromptChars = m.maxPromptChars;
      if (replica || m.hidden) entry.hidden = true;
      models[name] = entry;
    }
    // What a router reports about a target that failed marks that target's health (an engine
    // that died mid-answer is down until its rebuild says otherwise).
    const routeEvents = (name: string) => (e: RouteEvent): void => {
      if (e.type === 'failover' || e.type === 'resumed') models[e.from]?.health?.recordFailure(e.error);
      options.onRouteEvent?.(name, e);
    };
    for (const [name, m] of Object.entries(config.models)) {
      if (m.replicas < 2) continue;
      const copies = Array.from({ length: m.replicas }, (_, i) => `${name}#${i}`);
      // The copies take the group's model id as it arrives (its own, or a route target's `as`).
      const runner = buildRouter(`config.models.${name}.replicas`, copies.map((c) => ({ runner: models[c]!.runner, name: c })), {
        strategy: 'least_loaded',
        resume: { maxResumes: m.replicas - 1 },
        name,
        onEvent: routeEvents(name),
        ...(options.shared?.tracer !== undefined ? { tracer: options.shared.tracer } : {}),
      });
      const group: GatewayModel = { runner, health: new RouteHealth(copies.map((c) => models[c]!.health!)) };
      if (m.runnerModel !== undefined) group.runnerModel = m.runnerModel;
      if (m.contextTokens !== undefined) group.contextTokens = m.contextTokens;
      if (m.maxPromptChars !== undefined) group.maxPromptChars = m.maxPromptChars;
      if (m.hidden) group.hidden = true;
      models[name] = group;
    }
    for (const name of routeOrder(config.routes)) {
      const r = config.routes[name]!;
      const targets: RouteTarget[] = r.targets.map((t) => {
        const target: Exclude<RouteTarget, ModelRunner> = { runner: models[t.model]!.runner, name: t.model };
        // A runner entry's model id (`as`, else its runnerModel, else its name); a route's
        // targets set their own.
        const runnerEntry = config.models[t.model];
        if (runnerEntry !== undefined) target.model = t.as ?? runnerEntry.runnerModel ?? t.model;
        if (t.weight !== undefined) target.weight = t.weight;
        if (t.maxConcurrent !== undefined) target.maxConcurrent = t.maxConcurrent;
        return target;
      });
      const routeOptions: Parameters<typeof route>[1] = { strategy: r.strategy, name, onEvent: routeEvents(name) };
      if (options.shared?.tracer !== undefined) routeOptions.tracer = options.shared.tracer;
      if (r.resume !== undefined) routeOptions.resume = r.resume;
      if (r.fallbackOn !== undefined) routeOptions.fallbackOn = r.fallbackOn;
      if (r.maxCostUsd !== undefined) routeOptions.maxCostUsd = r.maxCostUsd;
      if (r.circuitBreaker !== undefined) routeOptions.circuitBreaker = r.circuitBreaker as never;
      const entry: GatewayModel = {
        runner: buildRouter(`config.models.${name}.route`, targets, routeOptions),
        health: new RouteHealth(r.targets.map((t) => models[t.model]!.health!)),
      };
      if (r.contextTokens !== undefined) entry.contextTokens = r.contextTokens;
      if (r.maxPromptChars !== undefined) entry.maxPromptChars = r.maxPromptChars;
      if (r.hidden) entry.hidden = true;
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
  return { models, runners: Object.fromEntries(created.map((c) => [c.name, c.raw])), close: closeAll };
}
