import { InferenceError, RUNNER_CAPABILITY_NAMES, RunnerOptions, type RateLimits, type RunnerCapabilities } from '@inferkit/inference-core';
import type { CredentialInput } from './http/credentials.js';
import { MAX_TIMEOUT_MS } from './http/timeouts.js';
import type { ModelPrice } from './pricing/model-price.js';
import type { RemoteRunnerOptions } from './remote-runner.js';

/** The option keys every remote runner takes (`RemoteRunnerOptions`). */
export const REMOTE_RUNNER_OPTION_KEYS = [
  'baseUrl',
  'apiKey',
  'headers',
  'timeouts',
  'pricing',
  'rateLimits',
  'maxConnections',
  'maxEventBytes',
  'maxRateLimitWaitMs',
] as const;

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Reads and checks the options every remote runner shares. Each failure is
 * `InferenceError('bad_request')` naming the parameter (`timeouts.idleMs`,
 * `pricing["gpt-4o"].inputPerMTok`, ...), as `RunnerOptions` does for the top-level keys.
 */
export function readRemoteRunnerOptions(o: RunnerOptions): RemoteRunnerOptions {
  const out: RemoteRunnerOptions = {};
  const baseUrl = o.string('baseUrl', { nonEmpty: true });
  if (baseUrl !== undefined) out.baseUrl = baseUrl;
  const apiKey = readCredential(o, 'apiKey');
  if (apiKey !== undefined) out.apiKey = apiKey;
  const headers = o.object('headers');
  if (headers !== undefined) {
    for (const [k, v] of Object.entries(headers)) {
      if (!HEADER_NAME.test(k)) throw o.error(`headers.${k}`, 'is not a valid header name');
      if (typeof v !== 'string' || /[\r\n\0]/.test(v)) throw o.error(`headers.${k}`, 'must be a string without CR, LF or NUL');
    }
    out.headers = headers as Record<string, string>;
  }
  const timeouts = nested(o, 'timeouts', ['connectMs', 'firstByteMs', 'idleMs', 'totalMs']);
  if (timeouts !== undefined) {
    const t: NonNullable<RemoteRunnerOptions['timeouts']> = {};
    for (const k of ['connectMs', 'firstByteMs', 'idleMs', 'totalMs'] as const) {
      const v = inner('timeouts', () => timeouts.number(k, { min: 1, max: MAX_TIMEOUT_MS }));
      if (v !== undefined) t[k] = v;
    }
    out.timeouts = t;
  }
  const pricing = o.object('pricing');
  if (pricing !== undefined) out.pricing = readPricing(o, pricing);
  const limits = nested(o, 'rateLimits', ['requestsPerMinute', 'tokensPerMinute', 'maxConcurrent', 'maxWaitMs', 'maxQueueLength']);
  if (limits !== undefined) {
    const r: RateLimits = {};
    inner('rateLimits', () => {
      const n = limits;
      const positive = (k: string) => {
        const v = n.number(k, { min: 0 });
        if (v === 0) throw n.error(k, 'must be > 0');
        return v;
      };
      const rpm = positive('requestsPerMinute');
      const tpm = positive('tokensPerMinute');
      const conc = n.integer('maxConcurrent', { min: 1 });
      const wait = n.number('maxWaitMs', { min: 0, max: MAX_TIMEOUT_MS });
      const queue = n.integer('maxQueueLength', { min: 0 });
      if (rpm !== undefined) r.requestsPerMinute = rpm;
      if (tpm !== undefined) r.tokensPerMinute = tpm;
      if (conc !== undefined) r.maxConcurrent = conc;
      if (wait !== undefined) r.maxWaitMs = wait;
      if (queue !== undefined) r.maxQueueLength = queue;
    });
    out.rateLimits = r;
  }
  const maxConnections = o.integer('maxConnections', { min: 1 });
  if (maxConnections !== undefined) out.maxConnections = maxConnections;
  const maxEventBytes = o.integer('maxEventBytes', { min: 1 });
  if (maxEventBytes !== undefined) out.maxEventBytes = maxEventBytes;
  const maxWait = o.number('maxRateLimitWaitMs', { min: 0, max: MAX_TIMEOUT_MS });
  if (maxWait !== undefined) out.maxRateLimitWaitMs = maxWait;
  return out;
}

/** A credential option: a non-empty string, a function, or `{ from: 'env' | 'file' | 'inline', … }`. */
export function readCredential(o: RunnerOptions, key: string): CredentialInput | undefined {
  const v = o.raw[key];
  if (v === undefined) return undefined;
  if (typeof v === 'function') return v as CredentialInput;
  if (typeof v === 'string') {
    if (v === '') throw o.error(key, 'must not be empty');
    return v;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw o.error(key, "must be a string, a function or { from: 'env' | 'file' | 'inline' }");
  }
  const from = (v as { from?: unknown }).from;
  const field = from === 'env' ? 'name' : from === 'file' ? 'path' : from === 'inline' ? 'value' : undefined;
  if (field === undefined) throw o.error(`${key}.from`, "must be 'env', 'file' or 'inline'");
  inner(key, () => {
    const n = new RunnerOptions(v, key, ['from', field]);
    if (n.string(field, { nonEmpty: true }) === undefined) throw n.error(field, 'is required');
  });
  return v as CredentialInput;
}

/** `capabilities` overrides: known capability names with boolean values. */
export function readCapabilities(o: RunnerOptions, key: string): Partial<RunnerCapabilities> | undefined {
  const n = nested(o, key, RUNNER_CAPABILITY_NAMES);
  if (n === undefined) return undefined;
  const out: Partial<RunnerCapabilities> = {};
  inner(key, () => {
    for (const name of RUNNER_CAPABILITY_NAMES) {
      const b = n.boolean(name);
      if (b !== undefined) out[name] = b;
    }
  });
  return out;
}

/**
 * A nested options object read with its own `RunnerOptions` (unknown keys refused); errors name
 * the full path (`timeouts.idleMs`).
 */
export function nested(o: RunnerOptions, key: string, known: readonly string[]): RunnerOptions | undefined {
  const v = o.object(key);
  if (v === undefined) return undefined;
  return inner(key, () => new RunnerOptions(v, key, known));
}

/** Runs `read`; a `bad_request` it throws gets its parameter prefixed with `key.` (the message already names `key`). */
export function inner<T>(key: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (!InferenceError.isInstance(e) || e.kind !== 'bad_request') throw e;
    const param = (e.details as { param?: unknown }).param;
    const full = typeof param === 'string' && param !== 'options' ? `${key}.${param}` : key;
    throw new InferenceError('bad_request', e.message, { details: { param: full } });
  }
}

function readPricing(o: RunnerOptions, pricing: Record<string, unknown>): Record<string, ModelPrice | null> {
  const out: Record<string, ModelPrice | null> = {};
  for (const [prefix, price] of Object.entries(pricing)) {
    const key = `pricing[${JSON.stringify(prefix)}]`;
    if (price === null) {
      out[prefix] = null;
      continue;
    }
    if (typeof price !== 'object' || Array.isArray(price)) throw o.error(key, 'must be a price object or null');
    out[prefix] = inner(key, () => {
      const n = new RunnerOptions(price, key, ['inputPerMTok', 'outputPerMTok', 'cachedInputPerMTok']);
      const input = n.number('inputPerMTok', { min: 0 });
      const output = n.number('outputPerMTok', { min: 0 });
      const cached = n.number('cachedInputPerMTok', { min: 0 });
      if (input === undefined) throw n.error('inputPerMTok', 'is required');
      if (output === undefined) throw n.error('outputPerMTok', 'is required');
      return { inputPerMTok: input, outputPerMTok: output, ...(cached !== undefined ? { cachedInputPerMTok: cached } : {}) };
    });
  }
  return out;
}
