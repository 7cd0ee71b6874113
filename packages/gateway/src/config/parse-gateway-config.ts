import { dirname, isAbsolute, resolve } from 'node:path';
import type { WeightSource } from '@inferkit/inference-core';
import { RUNNER_ALIASES, RUNNER_FACTORY_EXPORT, type GatewayConfig, type ModelConfig, type RunnerReference } from './gateway-config.js';

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

function parseModel(v: unknown, at: string, baseDir: string): ModelConfig {
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be an object');
  checkKeys(v, ['runner', 'options', 'runnerModel', 'weights', 'supervise', 'contextTokens', 'maxPromptChars'], at);
  if (v.runner === undefined) throw new GatewayConfigError(`${at}.runner`, 'is required');
  return {
    runner: parseRunner(v.runner, `${at}.runner`),
    // The runner's factory validates its options (unknown keys included) when it is created.
    options: v.options,
    runnerModel: optString(v, 'runnerModel', at),
    weights: parseWeights(v.weights, `${at}.weights`, baseDir),
    supervise: parseSupervise(v.supervise, `${at}.supervise`),
    contextTokens: optInt(v, 'contextTokens', at, 1, Number.MAX_SAFE_INTEGER),
    maxPromptChars: optInt(v, 'maxPromptChars', at, 1, Number.MAX_SAFE_INTEGER),
  };
}

/** Validates a parsed config document. `file` is its path (relative paths resolve from its directory). */
export function parseGatewayConfig(doc: unknown, file: string): GatewayConfig {
  const baseDir = dirname(resolve(file));
  if (!isObj(doc)) throw new GatewayConfigError('config', 'must be a JSON object');
  checkKeys(doc, ['host', 'port', 'apiKeysEnv', 'allowedHosts', 'maxBodyBytes', 'shutdownGraceMs', 'models'], 'config');
  if (!isObj(doc.models) || Object.keys(doc.models).length === 0) {
    throw new GatewayConfigError('config.models', 'must name at least one model');
  }
  const models: Record<string, ModelConfig> = {};
  for (const [name, m] of Object.entries(doc.models)) models[name] = parseModel(m, `config.models.${name}`, baseDir);
  return {
    host: optString(doc, 'host', 'config') ?? '127.0.0.1',
    port: optInt(doc, 'port', 'config', 0, 65535) ?? 8080,
    apiKeysEnv: optString(doc, 'apiKeysEnv', 'config'),
    allowedHosts: optStringArray(doc, 'allowedHosts', 'config'),
    maxBodyBytes: optInt(doc, 'maxBodyBytes', 'config', 1, 2 ** 31 - 1),
    shutdownGraceMs: optInt(doc, 'shutdownGraceMs', 'config', 0, 10 * 60_000),
    models,
    baseDir,
  };
}
