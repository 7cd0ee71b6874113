import { describe, expect, it } from 'vitest';
import {
  FROM_JSON_LIMITS,
  INFERENCE_ERROR_KINDS,
  InferenceError,
  type InferenceErrorDetailsByKind,
  type InferenceErrorKind,
  liftInternal,
} from './inference-error.js';

const SAMPLE_DETAILS: { [K in InferenceErrorKind]: InferenceErrorDetailsByKind[K] } = {
  rate_limited: { scope: 'tokens', limit: 1000, remaining: 0 },
  circuit_open: { openedAtMs: 1000, retryAtMs: 6000, breaker: 'b' },
  content_filtered: { category: 'violence', stage: 'output' },
  context_length_exceeded: { maxContextTokens: 8192, requestedTokens: 9000 },
  bad_request: { param: 'sampling.maxTokens', code: 'invalid_value' },
  unauthorized: { code: 'invalid_api_key' },
  forbidden: { code: 'model_not_allowed' },
  not_found: { resource: 'gpt-x' },
  backpressure: { reason: 'queue_full', queueLength: 10, waitedMs: 0 },
  budget_exceeded: { window: 'hour', spentUsd: 1.5, limitUsd: 1 },
  network_error: { code: 'ECONNRESET' },
  server_error: { code: 'overloaded' },
  timeout: { phase: 'first_byte', timeoutMs: 30000 },
  cancelled: { reason: 'user' },
  cuda_context_poisoned: { cudaError: 'cudaErrorIllegalAddress', device: 0 },
  runtime_crashed: { exitCode: null, signal: 'SIGKILL', stderrTail: 'Killed' },
  internal: { originalName: 'TypeError' },
};

describe('InferenceError', () => {
  it.each(INFERENCE_ERROR_KINDS.map((k) => [k]))('JSON round trip preserves everything for kind %s', (kind) => {
    const cause = new InferenceError('network_error', 'socket hang up', { details: { code: 'UND_ERR_SOCKET' } });
    const err = new InferenceError(kind, `a ${kind} error`, {
      details: SAMPLE_DETAILS[kind] as never,
      cause,
      status: 503,
      retryAfterMs: 2000,
      provider: 'openai',
      requestId: 'req-1',
    });
    const wire = JSON.parse(JSON.stringify(err));
    const back = InferenceError.fromJSON(wire);
    expect(InferenceError.isInstance(back)).toBe(true);
    expect(back.kind).toBe(kind);
    expect(back.message).toBe(`a ${kind} error`);
    expect(back.details).toEqual(SAMPLE_DETAILS[kind]);
    expect(back.retryable).toBe(err.retryable);
    expect(back.countsAsCircuitFailure).toBe(err.countsAsCircuitFailure);
    expect(back.status).toBe(503);
    expect(back.retryAfterMs).toBe(2000);
    expect(back.provider).toBe('openai');
    expect(back.requestId).toBe('req-1');
    expect(InferenceError.isInstance(back.cause)).toBe(true);
    expect((back.cause as InferenceError).kind).toBe('network_error');
    expect(back.toJSON()).toEqual(err.toJSON());
    expect(wire.stack).toBeUndefined();
  });

  it('has the documented defaults for retryable and circuit failure', () => {
    const e = (k: InferenceErrorKind) => new InferenceError(k, 'x');
    for (const k of ['rate_limited', 'network_error', 'server_error', 'timeout', 'backpressure'] as const) expect(e(k).retryable).toBe(true);
    for (const k of ['bad_request', 'cancelled', 'budget_exceeded', 'content_filtered', 'internal'] as const) expect(e(k).retryable).toBe(false);
    for (const k of ['rate_limited', 'content_filtered', 'budget_exceeded', 'cancelled', 'bad_request'] as const) {
      expect(e(k).countsAsCircuitFailure).toBe(false);
    }
    for (const k of ['server_error', 'network_error', 'timeout', 'cuda_context_poisoned', 'runtime_crashed'] as const) {
      expect(e(k).countsAsCircuitFailure).toBe(true);
    }
    expect(new InferenceError('server_error', 'x', { retryable: false }).retryable).toBe(false);
  });

  it('is recognised across package copies through the Symbol.for brand', () => {
    const brand = Symbol.for('inferkit.inference-core.InferenceError');
    const foreign = Object.assign(new Error('from another copy'), { [brand]: true, kind: 'timeout' });
    expect(InferenceError.isInstance(foreign)).toBe(true);
    expect(InferenceError.isInstance(new Error('plain'))).toBe(false);
    expect(InferenceError.isInstance(null)).toBe(false);
    expect(InferenceError.isInstance({ kind: 'timeout' })).toBe(false);
  });

  it('narrows with is()', () => {
    const err: InferenceError = new InferenceError('budget_exceeded', 'over', { details: { window: 'day', spentUsd: 2, limitUsd: 1 } });
    if (err.is('budget_exceeded')) expect(err.details.window).toBe('day');
    else throw new Error('is() failed');
  });

  it('fromJSON never throws on malformed input', () => {
    expect(InferenceError.fromJSON(null).kind).toBe('internal');
    expect(InferenceError.fromJSON('x').kind).toBe('internal');
    const unknownKind = InferenceError.fromJSON({ kind: 'exploded', message: 'boom' });
    expect(unknownKind.kind).toBe('internal');
    expect(unknownKind.message).toContain('exploded');
    expect(InferenceError.fromJSON({ kind: 'timeout' }).message).toBe('unknown error');
  });

  it('fromJSON bounds hostile input: a 100,000-deep cause chain, huge strings, deep details (issue #11.1)', () => {
    // The payload a hostile Python worker sent: each level a valid InferenceError JSON.
    let wire: Record<string, unknown> = { name: 'InferenceError', kind: 'internal', message: 'bottom', details: {}, retryable: false };
    for (let i = 0; i < 100_000; i++) wire = { name: 'InferenceError', kind: 'server_error', message: `level ${i}`, details: {}, retryable: true, cause: wire };
    const err = InferenceError.fromJSON(wire);
    expect(err.kind).toBe('server_error');
    let depth = 1;
    let c: unknown = err.cause;
    while (c !== undefined) {
      depth++;
      c = (c as Error).cause;
    }
    expect(depth).toBeLessThanOrEqual(FROM_JSON_LIMITS.causeDepth + 1);
    // toJSON of what came back is bounded too (no recursion through a long chain).
    expect(JSON.stringify(err).length).toBeLessThan(10_000);

    let deep: unknown = 'leaf';
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const big = InferenceError.fromJSON({ kind: 'bad_request', message: 'm'.repeat(1_000_000), details: { param: 'x', deep, list: Array(10_000).fill(1) } });
    expect(big.message.length).toBeLessThan(FROM_JSON_LIMITS.messageChars + 100);
    expect(JSON.stringify(big.details).length).toBeLessThan(2_000);
    expect((big.details as Record<string, unknown>).param).toBe('x');
    expect(((big.details as Record<string, unknown>).list as unknown[]).length).toBe(FROM_JSON_LIMITS.detailsEntries);
  });

  it('fromJSON ignores a __proto__ key in details', () => {
    const e = InferenceError.fromJSON(JSON.parse('{"kind":"bad_request","message":"m","details":{"__proto__":{"polluted":true}}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(e.details)).toBe(Object.prototype);
  });

  it('liftInternal keeps InferenceErrors and maps aborts, timeouts and the rest', () => {
    const ie = new InferenceError('timeout', 't');
    expect(liftInternal(ie)).toBe(ie);
    const abort = new DOMException('This operation was aborted', 'AbortError');
    expect(liftInternal(abort).kind).toBe('cancelled');
    expect(liftInternal(new DOMException('t', 'TimeoutError')).kind).toBe('timeout');
    const lifted = liftInternal(new TypeError('bad'), 'r1');
    expect(lifted.kind).toBe('internal');
    expect(lifted.details).toEqual({ originalName: 'TypeError' });
    expect(lifted.cause).toBeInstanceOf(TypeError);
    expect(lifted.requestId).toBe('r1');
    expect(liftInternal('a string').message).toBe('a string');
  });
});
