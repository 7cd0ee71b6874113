import { APICallError, UnsupportedFunctionalityError } from '@ai-sdk/provider';
import { INFERENCE_ERROR_KINDS, InferenceError } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { toAISDKError } from './to-ai-sdk-error.js';

const context = { modelId: 'local', requestId: 'req-9', abortSignal: undefined };

describe('toAISDKError', () => {
  test('every kind becomes an APICallError whose isRetryable is the kind default and data names the kind', () => {
    for (const kind of INFERENCE_ERROR_KINDS) {
      const e = toAISDKError(new InferenceError(kind, `failed: ${kind}`), context) as APICallError;
      expect(APICallError.isInstance(e), kind).toBe(true);
      expect(e.isRetryable, kind).toBe(InferenceError.isRetryableKind(kind));
      expect(e.message).toBe(`failed: ${kind}`);
      expect(e.statusCode).toBeUndefined();
      expect(e.data).toEqual({ kind, requestId: 'req-9' });
      expect(e.url).toBe('inferkit:local');
      expect(e.requestBodyValues).toEqual({ model: 'local', requestId: 'req-9' });
    }
  });

  test('status, retryAfterMs and an overridden retryable carry over', () => {
    const e = toAISDKError(
      new InferenceError('server_error', 'overloaded', { status: 503, retryAfterMs: 2500, retryable: false, requestId: 'req-from-runner' }),
      context,
    ) as APICallError;
    expect(e).toMatchObject({ statusCode: 503, isRetryable: false, responseHeaders: { 'retry-after-ms': '2500' }, data: { requestId: 'req-from-runner' } });
  });

  test('details, cause and stack of the runner error do not leave', () => {
    const inner = new Error('token sk-secret in /home/alice/.config');
    const err = new InferenceError('runtime_crashed', 'engine exited', { details: { exitCode: 1, stderrTail: '/home/alice/model' }, cause: inner });
    const e = toAISDKError(err, context) as APICallError;
    const json = JSON.stringify(e);
    expect(json).not.toContain('alice');
    expect(json).not.toContain('sk-secret');
    expect(e.cause).toBeUndefined();
    expect(e.stack).not.toContain('sk-secret');
  });

  test('anything else is lifted first: AbortError without a caller abort is cancelled, other errors internal', () => {
    const abort = toAISDKError(new DOMException('stopped', 'AbortError'), context) as APICallError;
    expect(abort.data).toMatchObject({ kind: 'cancelled' });
    const internal = toAISDKError(new TypeError('x is not a function'), context) as APICallError;
    expect(internal).toMatchObject({ isRetryable: false, data: { kind: 'internal' }, message: 'x is not a function' });
  });

  test("the caller's abort wins: its reason is returned whatever the runner threw", () => {
    const controller = new AbortController();
    controller.abort();
    const e = toAISDKError(new InferenceError('cancelled', 'aborted by caller signal'), { ...context, abortSignal: controller.signal });
    expect(e).toBe(controller.signal.reason);
    expect((e as Error).name).toBe('AbortError');
  });

  test('AI SDK errors pass through unchanged', () => {
    const original = new UnsupportedFunctionalityError({ functionality: 'x' });
    expect(toAISDKError(original, context)).toBe(original);
  });
});
