import { dirname, isAbsolute, resolve } from 'node:path';
import type { WeightSource } from '@inferkit/inference-core';
import { RUNNER_KINDS, type GatewayConfig, type ModelConfig, type RunnerReference } from './gateway-config.js';

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

function parseRunner(v: unknown, at: string): RunnerReference {
  if (typeof v === 'string') {
    const known = RUNNER_KINDS[v];
    if (known === undefined) {
      throw new GatewayConfigError(at, `unknown runner kind '${v}' (known: ${Object.keys(RUNNER_KINDS).join(', ')}; or { module, export })`);
    }
    return known;
  }
  if (isObj(v)) {
    checkKeys(v, ['module', 'export'], at);
    const module = optString(v, 'module', at);
    const exp = optString(v, 'export', at);
    if (module === undefined || exp === undefined) throw new GatewayConfigError(at, 'a runner reference needs both module and export');
    return { module, export: exp };
  }
  throw new GatewayConfigError(at, 'must be a runner kind or { module, export }');
}

function parseWeights(v: unknown, at: string, baseDir: string): WeightSource | undefined {
  if (v === undefined) return undefined;
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be a WeightSource object');
  if (v.kind === 'local_path') {
    checkKeys(v, ['kind', 'path'], at);
    const p = optString(v, 'path', at);
    if (p === undefined) throw new GatewayConfigError(`${at}.path`, 'is required');
    return { kind: 'local_path', path: isAbsolute(p) ? p : resolve(baseDir, p) };
  }
  if (v.kind === 'hugging_face') {
    checkKeys(v, ['kind', 'repo', 'revision'], at);
    const repo = optString(v, 'repo', at);
    if (repo === undefined) throw new GatewayConfigError(`${at}.repo`, 'is required');
    const revision = optString(v, 'revision', at);
    return revision === undefined ? { kind: 'hugging_face', repo } : { kind: 'hugging_face', repo, revision };
  }
  if (v.kind === 'runtime_managed') {
    checkKeys(v, ['kind'], at);
    return { kind: 'runtime_managed' };
  }
  throw new GatewayConfigError(`${at}.kind`, "must be 'local_path', 'hugging_face' or 'runtime_managed'");
}

function parseModel(v: unknown, at: string, baseDir: string): ModelConfig {
  if (!isObj(v)) throw new GatewayConfigError(at, 'must be an object');
  checkKeys(v, ['runner', 'options', 'runnerModel', 'weights', 'supervise'], at);
  if (v.runner === undefined) throw new GatewayConfigError(`${at}.runner`, 'is required');
  const runner = parseRunner(v.runner, `${at}.runner`);
  if (v.options !== undefined && !isObj(v.options)) throw new GatewayConfigError(`${at}.options`, 'must be an object');
  if (v.supervise !== undefined && !isObj(v.supervise)) throw new GatewayConfigError(`${at}.supervise`, 'must be an object');
  return {
    runner,
    options: (v.options as Obj | undefined) ?? {},
    runnerModel: optString(v, 'runnerModel', at),
    weights: parseWeights(v.weights, `${at}.weights`, baseDir),
    supervise: v.supervise as Obj | undefined,
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
