import { InferenceError } from '@inferkit/inference-core';
import { errors } from 'undici';
import { describe, expect, test } from 'vitest';
import { classifyUndiciError } from './classify-undici-error.js';
import { resolveTimeouts } from './timeouts.js';

const timeouts = resolveTimeouts({ connectMs: 1000, firstByteMs: 2000, idleMs: 3000 });
const classify = (e: unknown) => classifyUndiciError(e, timeouts, 'openai');
const sys = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

describe('undici failures are classified by err.code', () => {
  test('timeouts name their phase and deadline', () => {
    expect(classify(new errors.ConnectTimeoutError()).details).toEqual({ phase: 'connect', timeoutMs: 1000 });
    expect(classify(new errors.HeadersTimeoutError()).details).toEqual({ phase: 'first_byte', timeoutMs: 2000 });
    expect(classify(new errors.BodyTimeoutError()).details).toEqual({ phase: 'idle', timeoutMs: 3000 });
    for (const e of [new errors.ConnectTimeoutError(), new errors.HeadersTimeoutError(), new errors.BodyTimeoutError()]) {
      const c = classify(e);
      expect(c.kind).toBe('timeout');
      expect(c.retryable).toBe(true);
      expect(c.cause).toBe(e);
    }
  });

  test.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'HPE_INVALID_CONSTANT'])('%s → network_error', (code) => {
    const c = classify(sys(code));
    expect(c.kind).toBe('network_error');
    expect(c.details).toEqual({ code });
  });

  test('undici socket and closed-client errors → network_error', () => {
    expect(classify(new errors.SocketError('other side closed')).kind).toBe('network_error');
    expect(classify(new errors.ClientDestroyedError()).kind).toBe('network_error');
    expect(classify(new errors.ResponseContentLengthMismatchError()).kind).toBe('network_error');
  });

  test('aborts → cancelled', () => {
    expect(classify(new errors.RequestAbortedError()).kind).toBe('cancelled');
    expect(classify(new DOMException('This operation was aborted', 'AbortError')).kind).toBe('cancelled');
  });

  test('oversized headers → non-retryable server_error', () => {
    const c = classify(new errors.HeadersOverflowError());
    expect(c.kind).toBe('server_error');
    expect(c.retryable).toBe(false);
  });

  test('an InferenceError passes through; anything else is internal, never a plain Error', () => {
    const own = new InferenceError('timeout', 'total', { details: { phase: 'total' } });
    expect(classify(own)).toBe(own);
    const weird = classify(new TypeError('boom'));
    expect(weird.kind).toBe('internal');
    expect(InferenceError.isInstance(classify('a string'))).toBe(true);
  });

  test('bad timeout settings are refused with bad_request naming the field; the total deadline has a default', () => {
    expect(() => resolveTimeouts({ idleMs: 0 })).toThrow(expect.objectContaining({ kind: 'bad_request', details: { param: 'timeouts.idleMs' } }));
    expect(() => resolveTimeouts({ totalMs: Number.NaN })).toThrow(expect.objectContaining({ details: { param: 'timeouts.totalMs' } }));
    // Past 2^31 - 1 ms a timer fires at once: refused rather than turned into no deadline at all.
    expect(() => resolveTimeouts({ firstByteMs: 2 ** 31 })).toThrow(expect.objectContaining({ details: { param: 'timeouts.firstByteMs' } }));
    expect(resolveTimeouts(undefined)).toEqual({ connectMs: 10_000, firstByteMs: 600_000, idleMs: 120_000, totalMs: 3_600_000 });
  });
});
