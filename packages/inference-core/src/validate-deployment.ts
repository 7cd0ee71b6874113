import type { Deployment } from './deployment.js';
import { inferRuntime } from './infer-runtime.js';
import { InferenceError } from './inference-error.js';
import { DEFAULT_RETRY_POLICY } from './retry-policy.js';

const RUNTIMES = new Set(['vllm', 'tensorrt', 'ort', 'candle', 'cuda', 'mistralrs', 'openai', 'anthropic', 'gemini', 'litellm']);

type Obj = Record<string, unknown>;

/**
 * Checks untrusted input (parsed JSON/YAML) against `Deployment` and returns it with `runtime`
 * filled in from `inferRuntime(model)` when missing. Every problem is collected; if any, throws an
 * `InferenceError` of kind `bad_request` whose message lists them all and whose `details.param`
 * is the first offending path (e.g. `retry.maxRetries`).
 */
export function validateDeployment(input: unknown): Deployment {
  const problems: Array<[string, string]> = [];
  const bad = (path: string, msg: string): void => {
    problems.push([path, msg]);
  };
  if (!isObj(input)) {
    throw new InferenceError('bad_request', 'deployment: expected an object', { details: { param: '' } });
  }
  const d = input;
  if (typeof d.name !== 'string' || d.name.trim() === '') bad('name', 'must be a non-empty string');
  if (typeof d.model !== 'string' || d.model.trim() === '') bad('model', 'must be a non-empty string');

  let runtime = d.runtime;
  if (runtime === undefined) {
    if (typeof d.model === 'string') {
      runtime = inferRuntime(d.model);
      if (runtime === undefined) bad('runtime', `not given and cannot be inferred from model "${d.model}"`);
    }
  } else if (
    typeof runtime !== 'string' ||
    !(RUNTIMES.has(runtime) || /^python:.+/.test(runtime) || /^custom:.+/.test(runtime))
  ) {
    bad('runtime', `unknown runtime ${JSON.stringify(runtime)}`);
  }

  if (d.weights !== undefined) {
    const w = d.weights;
    if (!isObj(w)) bad('weights', 'must be an object');
    else if (w.kind === 'hugging_face') {
      if (!nonEmpty(w.repo)) bad('weights.repo', 'must be a non-empty string');
      if (w.revision !== undefined && !nonEmpty(w.revision)) bad('weights.revision', 'must be a non-empty string');
      if (w.file !== undefined && !nonEmpty(w.file)) bad('weights.file', 'must be a non-empty string');
    } else if (w.kind === 'local_path') {
      if (!nonEmpty(w.path)) bad('weights.path', 'must be a non-empty string');
      if (w.file !== undefined && !nonEmpty(w.file)) bad('weights.file', 'must be a non-empty string');
    } else if (w.kind !== 'runtime_managed') {
      bad('weights.kind', "must be 'hugging_face', 'local_path' or 'runtime_managed'");
    }
  }

  section(d, 'rateLimits', bad, (r) => {
    positive(r, 'rateLimits', 'requestsPerMinute', bad);
    positive(r, 'rateLimits', 'tokensPerMinute', bad);
    positiveInt(r, 'rateLimits', 'maxConcurrent', bad);
    nonNegative(r, 'rateLimits', 'maxWaitMs', bad);
    nonNegativeInt(r, 'rateLimits', 'maxQueueLength', bad);
  });
  section(d, 'retry', bad, (r) => {
    // Every retry field is optional: DEFAULT_RETRY_POLICY fills the gaps.
    nonNegativeInt(r, 'retry', 'maxRetries', bad);
    nonNegative(r, 'retry', 'initialDelayMs', bad);
    nonNegative(r, 'retry', 'maxDelayMs', bad);
    const initial = typeof r.initialDelayMs === 'number' ? r.initialDelayMs : DEFAULT_RETRY_POLICY.initialDelayMs;
    const max = typeof r.maxDelayMs === 'number' ? r.maxDelayMs : DEFAULT_RETRY_POLICY.maxDelayMs;
    if (max < initial) bad('retry.maxDelayMs', `must be >= initialDelayMs (${initial})`);
    if (r.multiplier !== undefined && !(typeof r.multiplier === 'number' && r.multiplier >= 1 && Number.isFinite(r.multiplier))) {
      bad('retry.multiplier', 'must be a finite number >= 1');
    }
    if (r.jitter !== undefined && r.jitter !== 'none' && r.jitter !== 'equal' && r.jitter !== 'full') {
      bad('retry.jitter', "must be 'none', 'equal' or 'full'");
    }
    nonNegative(r, 'retry', 'retryAfterCapMs', bad);
    if (r.idempotent !== undefined && typeof r.idempotent !== 'boolean') bad('retry.idempotent', 'must be a boolean');
  });
  section(d, 'timeouts', bad, (t) => {
    for (const k of ['connectMs', 'firstByteMs', 'idleMs', 'firstChunkMs', 'totalMs']) positive(t, 'timeouts', k, bad);
  });
  section(d, 'circuitBreaker', bad, (c) => {
    required(c, 'circuitBreaker', 'failureThreshold', bad) && positiveInt(c, 'circuitBreaker', 'failureThreshold', bad);
    required(c, 'circuitBreaker', 'windowMs', bad) && positive(c, 'circuitBreaker', 'windowMs', bad);
    required(c, 'circuitBreaker', 'openDurationMs', bad) && positive(c, 'circuitBreaker', 'openDurationMs', bad);
    positive(c, 'circuitBreaker', 'maxOpenDurationMs', bad);
    if (typeof c.maxOpenDurationMs === 'number' && typeof c.openDurationMs === 'number' && c.maxOpenDurationMs < c.openDurationMs) {
      bad('circuitBreaker.maxOpenDurationMs', 'must be >= openDurationMs');
    }
    positiveInt(c, 'circuitBreaker', 'halfOpenMaxProbes', bad);
  });
  section(d, 'budget', bad, (b) => {
    positive(b, 'budget', 'hourlyUsd', bad);
    positive(b, 'budget', 'dailyUsd', bad);
    if (b.hourlyUsd === undefined && b.dailyUsd === undefined) bad('budget', 'needs hourlyUsd or dailyUsd');
    if (b.onExceeded !== 'reject' && b.onExceeded !== 'warn' && b.onExceeded !== 'throttle') {
      bad('budget.onExceeded', "must be 'reject', 'warn' or 'throttle'");
    }
    if (b.onExceeded === 'throttle' && !(isObj(d.serving) && typeof d.serving.maxConcurrent === 'number')) {
      bad('budget.onExceeded', "'throttle' needs serving.maxConcurrent");
    }
  });
  section(d, 'serving', bad, (s) => {
    positiveInt(s, 'serving', 'maxConcurrent', bad);
    if (s.onCapacityExhausted !== undefined && s.onCapacityExhausted !== 'reject' && s.onCapacityExhausted !== 'queue') {
      bad('serving.onCapacityExhausted', "must be 'reject' or 'queue'");
    }
    nonNegativeInt(s, 'serving', 'maxQueueLength', bad);
    nonNegative(s, 'serving', 'maxQueueWaitMs', bad);
    positive(s, 'serving', 'abandonedHandleMs', bad);
  });

  if (problems.length > 0) {
    const name = typeof d.name === 'string' && d.name !== '' ? ` "${d.name}"` : '';
    const list = problems.map(([p, m]) => `${p} ${m}`).join('; ');
    throw new InferenceError('bad_request', `invalid deployment${name}: ${list}`, { details: { param: problems[0]![0] } });
  }
  return { ...(d as unknown as Deployment), runtime: runtime as Deployment['runtime'] };
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v.trim() !== '';
}
function section(d: Obj, key: string, bad: (p: string, m: string) => void, check: (o: Obj) => void): void {
  const v = d[key];
  if (v === undefined) return;
  if (!isObj(v)) bad(key, 'must be an object');
  else check(v);
}
function required(o: Obj, sec: string, key: string, bad: (p: string, m: string) => void): boolean {
  if (o[key] === undefined) {
    bad(`${sec}.${key}`, 'is required');
    return false;
  }
  return true;
}
function num(o: Obj, sec: string, key: string, bad: (p: string, m: string) => void, ok: (n: number) => boolean, what: string): boolean {
  const v = o[key];
  if (v === undefined) return true;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) {
    bad(`${sec}.${key}`, `must be ${what}`);
    return false;
  }
  return true;
}
function positive(o: Obj, s: string, k: string, bad: (p: string, m: string) => void): boolean {
  return num(o, s, k, bad, (n) => n > 0, 'a number > 0');
}
function nonNegative(o: Obj, s: string, k: string, bad: (p: string, m: string) => void): boolean {
  return num(o, s, k, bad, (n) => n >= 0, 'a number >= 0');
}
function positiveInt(o: Obj, s: string, k: string, bad: (p: string, m: string) => void): boolean {
  return num(o, s, k, bad, (n) => Number.isInteger(n) && n > 0, 'an integer > 0');
}
function nonNegativeInt(o: Obj, s: string, k: string, bad: (p: string, m: string) => void): boolean {
  return num(o, s, k, bad, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
}
