import { dirname, isAbsolute, resolve } from 'node:path';
import { isInferenceErrorKind, type InferenceErrorKind, type RouteStrategy, type WeightSource } from '@inferkit/inference-core';
import {
  MAX_REPLICAS,
  RUNNER_ALIASES,
  RUNNER_FACTORY_EXPORT,
  type GatewayConfig,
  type ModelConfig,
  type RouteConfig,
  type RouteTargetConfig,
  type RunnerReference,
  STORE_KINDS,
  type StoreConfig,
} from './gateway-config.js';

/** A config file that cannot be used; `path` points at the offending field. */
export class GatewayConfigError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'GatewayConfigError';
    this.path = path;
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(o: Obj, allowed: readonly string[], at: string): void {
  for (const k of Object.keys(o)) {
    // Unknown keys are typos far more often than forward compatibility: refuse them.
    if (!allowed.includes(k)) throw new GatewayConfigError(`${at}.${k}`, `unknown key (expected one of ${allowed.join(', ')})`);
  }
}

function optString(o: Obj, key: string, at: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw new GatewayConfigError(`${at}.${key}`, 'must be a non-empty string');
  return v;
}

function optInt(o: Obj, key: string, at: string, min: number, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new GatewayConfigError(`${at}.${key}`, `must be an integer from ${min} to ${max}`);
  }
  return v;
}

function optBoolean(o: Obj, key: string, at: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new GatewayConfigError(`${at}.${key}`, 'must be true or false');
  return v;
}

function optStringArray(o: Obj, key: string, at: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) {
    throw new GatewayConfigError(`${at}.${key}`, 'must be an array of non-empty strings');
  }
  return v as string[];
}

// Kinds of earlier config versions, with what to write instead.
const FORMER_KINDS: Readonly<Record<string, string>> = {
  openai: '"runner": "remote", "options": { "provider": "openai", … }',
  'openai-compatible': '"runner": "remote", "options": { "provider": "openai", "baseUrl": …, … }',
  anthropic: '"runner": "remote", "options": { "provider": "anthropic", … }',
  gemini: '"runner": "remote", "options": { "provider": "gemini", … }',
  scripted: 'a runner package (the test double is not a config kind; tests build a Gateway with ScriptedRunner)',
};

function parseRunner(v: unknown, at: string): RunnerReference {
  if (typeof v === 'string' && v.length > 0) {
    const former = FORMER_KINDS[v];
    if (former !== undefined) throw new GatewayConfigError(at, `'${v}' is not a runner any more; write ${former}`);
    return { module: RUNNER_ALIASES[v] ?? v, export: RUNNER_FACTORY_EXPORT };
  }
  if (isObj(v)) {
    checkKeys(v, ['module', 'export'], at);
    const module = optString(v, 'module', at);
    if (module === undefined) throw new GatewayConfigError(`${at}.module`, 'is required');
    return { module, export: optString(v, 'export', at) ?? RUNNER_FACTORY_EXPORT };
  }
  throw new GatewayConfigError(at, `must be ${Object.keys(RUNNER_ALIASES).map((k) => `'${k}'`).join(', ')}, a package name or path, or { module, export }`);
}

function parseWeights(v: unknown, at: string, baseDir: string): WeightSource | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be a WeightSource object');
  if (v.kind === 'local_path') {
    checkKeys(v, ['kind', 'path', 'file'], at);
    const p = optString(v, 'path', at);
    if (p === undefined) throw new GatewayConfigError(`${at}.path`, 'is required');
    const file = optString(v, 'file', at);
    const path = isAbsolute(p) ? p : resolve(baseDir, p);
    return file === undefined ? { kind: 'local_path', path } : { kind: 'local_path', path, file };
  }
  if (v.kind === 'hugging_face') {
    checkKeys(v, ['kind', 'repo', 'revision', 'file'], at);
    const repo = optString(v, 'repo', at);
    if (repo === undefined) throw new GatewayConfigError(`${at}.repo`, 'is required');
    const source: WeightSource = { kind: 'hugging_face', repo };
    const revision = optString(v, 'revision', at);
    if (revision !== undefined) source.revision = revision;
    const file = optString(v, 'file', at);
    if (file !== undefined) source.file = file;
    return source;
  }
  if (v.kind === 'runtime_managed') {
    checkKeys(v, ['kind'], at);
    return { kind: 'runtime_managed' };
  }
  throw new GatewayConfigError(`${at}.kind`, "must be 'local_path', 'hugging_face' or 'runtime_managed'");
}

// The keys of a `SupervisePolicy` a config can set (clock, random and onEvent are code).
const SUPERVISE_KEYS = ['rateLimits', 'retry', 'timeouts', 'circuitBreaker', 'budget', 'serving', 'rebuild', 'name'] as const;

function parseSupervise(v: unknown, at: string): Obj | false | undefined {
  if (v === undefined || v === false) return v;
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be a supervise policy object, or false for none');
  checkKeys(v, SUPERVISE_KEYS, at);
  if (v.rebuild !== undefined && v.rebuild !== false && !isObj(v.rebuild)) {
    throw new GatewayConfigError(`${at}.rebuild`, 'must be { maxRebuilds, windowMs }, or false for none');
  }
  return v;
}

const RUNNER_ENTRY_KEYS = ['runner', 'options', 'runnerModel', 'weights', 'supervise', 'contextTokens', 'maxPromptChars', 'replicas', 'hidden'] as const;
const ROUTE_ENTRY_KEYS = ['route', 'hidden', 'contextTokens', 'maxPromptChars'] as const;

function parseModel(v: Obj, at: string, baseDir: string): ModelConfig {
  checkKeys(v, RUNNER_ENTRY_KEYS, at);
  if (v.runner === undefined) throw new GatewayConfigError(`${at}.runner`, 'is required (or "route" for an entry that routes over others)');
  return {
    runner: parseRunner(v.runner, `${at}.runner`),
    // The runner's factory validates its options (unknown keys included) when it is created.
    options: v.options,
    runnerModel: optString(v, 'runnerModel', at),
    weights: parseWeights(v.weights, `${at}.weights`, baseDir),
    supervise: parseSupervise(v.supervise, `${at}.supervise`),
    contextTokens: optInt(v, 'contextTokens', at, 1, Number.MAX_SAFE_INTEGER),
    maxPromptChars: optInt(v, 'maxPromptChars', at, 1, Number.MAX_SAFE_INTEGER),
    replicas: optInt(v, 'replicas', at, 1, MAX_REPLICAS) ?? 1,
    hidden: optBoolean(v, 'hidden', at) ?? false,
  };
}

const STRATEGIES: readonly RouteStrategy[] = ['fallback', 'least_loaded', 'cheapest'];
const ROUTE_KEYS = ['strategy', 'targets', 'resume', 'fallbackOn', 'maxCostUsd', 'circuitBreaker'] as const;

function parseRouteTarget(v: unknown, at: string): RouteTargetConfig {
  if (typeof v === 'string' && v.length > 0) return { model: v, as: undefined, weight: undefined, maxConcurrent: undefined };
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be the name of another entry, or { model, as?, weight?, maxConcurrent? }');
  checkKeys(v, ['model', 'as', 'weight', 'maxConcurrent'], at);
  const model = optString(v, 'model', at);
  if (model === undefined) throw new GatewayConfigError(`${at}.model`, 'is required (the name of another entry)');
  const weight = v.weight;
  if (weight !== undefined && !(typeof weight === 'number' && Number.isFinite(weight) && weight > 0)) {
    throw new GatewayConfigError(`${at}.weight`, 'must be a number > 0');
  }
  return { model, as: optString(v, 'as', at), weight, maxConcurrent: optInt(v, 'maxConcurrent', at, 1, Number.MAX_SAFE_INTEGER) };
}

function parseRoute(v: Obj, at: string): RouteConfig {
  checkKeys(v, ROUTE_ENTRY_KEYS, at);
  const r = v.route;
  const rat = `${at}.route`;
  if (!isObj(r)) throw new GatewayConfigError(rat, 'must be { strategy, targets, resume?, fallbackOn?, maxCostUsd?, circuitBreaker? }');
  checkKeys(r, ROUTE_KEYS, rat);
  if (!STRATEGIES.includes(r.strategy as RouteStrategy)) {
    throw new GatewayConfigError(`${rat}.strategy`, `must be ${STRATEGIES.map((x) => `'${x}'`).join(', ')}`);
  }
  if (!Array.isArray(r.targets) || r.targets.length === 0) throw new GatewayConfigError(`${rat}.targets`, 'must list at least one entry');
  const targets = r.targets.map((t, i) => parseRouteTarget(t, `${rat}.targets[${i}]`));
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    if (seen.has(t.model)) {
      throw new GatewayConfigError(`${rat}.targets[${i}]`, `'${t.model}' is already a target of this route (each is tried at most once per request; for another model id on the same provider, add a second entry)`);
    }
    seen.add(t.model);
  });
  let resume: { maxResumes: number } | undefined;
  if (r.resume !== undefined) {
    if (!isObj(r.resume)) throw new GatewayConfigError(`${rat}.resume`, 'must be { maxResumes }');
    checkKeys(r.resume, ['maxResumes'], `${rat}.resume`);
    const maxResumes = optInt(r.resume, 'maxResumes', `${rat}.resume`, 0, 1000);
    if (maxResumes === undefined) throw new GatewayConfigError(`${rat}.resume.maxResumes`, 'is required');
    resume = { maxResumes };
  }
  let fallbackOn: InferenceErrorKind[] | undefined;
  if (r.fallbackOn !== undefined) {
    if (!Array.isArray(r.fallbackOn)) throw new GatewayConfigError(`${rat}.fallbackOn`, 'must be an array of error kinds');
    fallbackOn = r.fallbackOn.map((k, i) => {
      if (!isInferenceErrorKind(k)) throw new GatewayConfigError(`${rat}.fallbackOn[${i}]`, `is not an error kind: ${JSON.stringify(k)}`);
      return k;
    });
  }
  const cost = r.maxCostUsd;
  if (cost !== undefined && !(typeof cost === 'number' && Number.isFinite(cost) && cost >= 0)) throw new GatewayConfigError(`${rat}.maxCostUsd`, 'must be a number >= 0');
  if (r.circuitBreaker !== undefined && !isObj(r.circuitBreaker)) throw new GatewayConfigError(`${rat}.circuitBreaker`, 'must be { failureThreshold, windowMs, openDurationMs, … }');
  return {
    strategy: r.strategy as RouteStrategy,
    targets,
    resume,
    fallbackOn,
    maxCostUsd: cost as number | undefined,
    circuitBreaker: r.circuitBreaker as Obj | undefined,
    hidden: optBoolean(v, 'hidden', at) ?? false,
    contextTokens: optInt(v, 'contextTokens', at, 1, Number.MAX_SAFE_INTEGER),
    maxPromptChars: optInt(v, 'maxPromptChars', at, 1, Number.MAX_SAFE_INTEGER),
  };
}

/**
 * Every route target names an entry; `as` only on runner entries (a route picks its own
 * targets' model ids); replica names (`<name>#<i>`) are free; no route reaches itself.
 */
function checkRoutes(models: Record<string, ModelConfig>, routes: Record<string, RouteConfig>): void {
  for (const [name, m] of Object.entries(models)) {
    if (m.replicas < 2) continue;
    for (let i = 0; i < m.replicas; i++) {
      const copy = `${name}#${i}`;
      if (copy in models || copy in routes) {
        throw new GatewayConfigError(`config.models.${copy}`, `is the name of a replica of '${name}' (replicas: ${m.replicas}); rename the entry`);
      }
    }
  }
  for (const [name, r] of Object.entries(routes)) {
    r.targets.forEach((t, i) => {
      const at = `config.models.${name}.route.targets[${i}]`;
      if (t.model in routes) {
        if (t.as !== undefined) throw new GatewayConfigError(`${at}.as`, `'${t.model}' is a route: its targets' model ids apply, not 'as'`);
      } else if (!(t.model in models)) {
        throw new GatewayConfigError(at, `names no entry of config.models: '${t.model}'`);
      }
    });
  }
  // A hidden entry is served only as a route's target: one that no route targets is unreachable.
  const targeted = new Set(Object.values(routes).flatMap((r) => r.targets.map((t) => t.model)));
  for (const [name, e] of [...Object.entries(models), ...Object.entries(routes)]) {
    if (e.hidden && !targeted.has(name)) throw new GatewayConfigError(`config.models.${name}.hidden`, 'no route targets this entry, so nothing could reach it');
  }
  // Depth-first over route → route edges; a grey node met again closes a cycle.
  const state = new Map<string, 'grey' | 'black'>();
  const trail: string[] = [];
  const visit = (name: string): void => {
    state.set(name, 'grey');
    trail.push(name);
    routes[name]!.targets.forEach((t, i) => {
      if (!(t.model in routes)) return;
      const s = state.get(t.model);
      if (s === 'grey') {
        const cycle = [...trail.slice(trail.indexOf(t.model)), t.model].join(' → ');
        throw new GatewayConfigError(`config.models.${name}.route.targets[${i}]`, `routes form a cycle: ${cycle}`);
      }
      if (s === undefined) visit(t.model);
    });
    trail.pop();
    state.set(name, 'black');
  };
  for (const name of Object.keys(routes)) if (!state.has(name)) visit(name);
}

function parseStore(v: unknown): StoreConfig | undefined {
  if (v === undefined) return undefined;
  const at = 'config.store';
  if (!isObj(v)) throw new GatewayConfigError(at, `must be an object naming one store kind (${Object.keys(STORE_KINDS).join(', ')})`);
  const kinds = Object.keys(v);
  if (kinds.length !== 1) throw new GatewayConfigError(at, `must name exactly one store kind (${Object.keys(STORE_KINDS).join(', ')})`);
  const kind = kinds[0]!;
  const module = STORE_KINDS[kind];
  if (module === undefined) throw new GatewayConfigError(`${at}.${kind}`, `unknown store kind (known: ${Object.keys(STORE_KINDS).join(', ')})`);
  const options = v[kind];
  if (!isObj(options)) throw new GatewayConfigError(`${at}.${kind}`, 'must be an object of options');
  // Caught here so a typo fails before anything connects; the store validates the rest.
  if (options.mode !== undefined && options.mode !== 'strict' && options.mode !== 'approximate') {
    throw new GatewayConfigError(`${at}.${kind}.mode`, "must be 'strict' or 'approximate'");
  }
  return { kind, module, options };
}

/** Validates a parsed config document. `file` is its path (relative paths resolve from its directory). */
export function parseGatewayConfig(doc: unknown, file: string): GatewayConfig {
  const baseDir = dirname(resolve(file));
  if (!isObj(doc)) throw new GatewayConfigError('config', 'must be a JSON object');
  checkKeys(doc, ['host', 'port', 'apiKeysEnv', 'allowedHosts', 'maxBodyBytes', 'shutdownGraceMs', 'store', 'models'], 'config');
  if (!isObj(doc.models) || Object.keys(doc.models).length === 0) {
    throw new GatewayConfigError('config.models', 'must name at least one model');
  }
  const models: Record<string, ModelConfig> = {};
  const routes: Record<string, RouteConfig> = {};
  for (const [name, m] of Object.entries(doc.models)) {
    const at = `config.models.${name}`;
    if (!isObj(m)) throw new GatewayConfigError(at, 'must be an object');
    if (m.route !== undefined && m.runner !== undefined) throw new GatewayConfigError(at, 'has both "runner" and "route"; an entry is one or the other');
    if (m.route !== undefined) routes[name] = parseRoute(m, at);
    else models[name] = parseModel(m, at, baseDir);
  }
  checkRoutes(models, routes);
  return {
    host: optString(doc, 'host', 'config') ?? '127.0.0.1',
    port: optInt(doc, 'port', 'config', 0, 65535) ?? 8080,
    apiKeysEnv: optString(doc, 'apiKeysEnv', 'config'),
    allowedHosts: optStringArray(doc, 'allowedHosts', 'config'),
    maxBodyBytes: optInt(doc, 'maxBodyBytes', 'config', 1, 2 ** 31 - 1),
    shutdownGraceMs: optInt(doc, 'shutdownGraceMs', 'config', 0, 10 * 60_000),
    models,
    routes,
    store: parseStore(doc.store),
    baseDir,
  };
}
