import { describe, expect, test } from 'vitest';
import { classifyHttpError, classifyStreamError, type ProviderErrorInfo } from './classify-http-error.js';

const ctx = { provider: 'openai', model: 'gpt-4o', nowMs: 0 };
const classify = (status: number, info: ProviderErrorInfo = {}, headers: Record<string, string> = {}) =>
  classifyHttpError(status, headers, info, JSON.stringify({ error: info }), ctx);

describe('HTTP status → InferenceError', () => {
  test.each([
    [400, {}, 'bad_request', false],
    [401, { code: 'invalid_api_key' }, 'unauthorized', false],
    [402, { type: 'billing_error' }, 'forbidden', false],
    [403, {}, 'forbidden', false],
    [404, { code: 'model_not_found' }, 'not_found', false],
    [408, {}, 'timeout', true],
    [409, {}, 'server_error', true],
    [413, { type: 'request_too_large' }, 'bad_request', false],
    [422, {}, 'bad_request', false],
    [429, { type: 'requests', code: 'rate_limit_exceeded' }, 'rate_limited', true],
    [500, { type: 'server_error' }, 'server_error', true],
    [502, {}, 'server_error', true],
    [503, { message: 'The engine is currently overloaded' }, 'server_error', true],
    [504, {}, 'server_error', true],
    [529, { type: 'overloaded_error' }, 'server_error', true],
    [418, {}, 'bad_request', false],
  ] as const)('%d → %s', (status, info, kind, retryable) => {
    const e = classify(status, info);
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
    expect(e.status).toBe(status);
    expect(e.provider).toBe('openai');
  });

  test('429 insufficient_quota is not retryable', () => {
    const e = classify(429, { type: 'insufficient_quota', code: 'insufficient_quota', message: 'You exceeded your current quota' });
    expect(e.kind).toBe('rate_limited');
    expect(e.retryable).toBe(false);
    expect(e.details).toEqual({ scope: 'quota' });
  });

  test('429 carries retry-after-ms, retry-after or the body retry delay', () => {
    expect(classify(429, {}, { 'retry-after-ms': '150' }).retryAfterMs).toBe(150);
    expect(classify(429, {}, { 'retry-after': '3' }).retryAfterMs).toBe(3000);
    expect(classify(429, { retryDelayMs: 27_000 }).retryAfterMs).toBe(27_000);
  });

  test('400 context length with the numbers from the message', () => {
    const e = classify(400, {
      code: 'context_length_exceeded',
      param: 'messages',
      message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    });
    expect(e.kind).toBe('context_length_exceeded');
    expect(e.details).toEqual({ maxContextTokens: 8192, requestedTokens: 9000 });
    expect(e.retryable).toBe(false);
  });

  test('400 content filter (Azure) → content_filtered on input', () => {
    const e = classify(400, { code: 'content_filter', message: "The response was filtered due to the prompt triggering Azure OpenAI's content management policy." });
    expect(e.kind).toBe('content_filtered');
    expect(e.details).toEqual({ stage: 'input', category: 'content_filter' });
  });

  test('400 unsupported parameter keeps param and code', () => {
    const e = classify(400, { code: 'unsupported_parameter', param: 'max_tokens', message: "Unsupported parameter: 'max_tokens'" });
    expect(e.details).toEqual({ param: 'max_tokens', code: 'unsupported_parameter' });
  });

  test('x-should-retry overrides the default', () => {
    expect(classify(500, {}, { 'x-should-retry': 'false' }).retryable).toBe(false);
    expect(classify(400, {}, { 'x-should-retry': 'true' }).retryable).toBe(true);
  });

  test('the message names the status and the upstream request id (redaction happens later, per request)', () => {
    const e = classify(401, { message: 'Incorrect API key provided: sk-…' }, { 'x-request-id': 'req_123' });
    expect(e.message).toBe('openai HTTP 401: Incorrect API key provided: sk-… (upstream request req_123)');
  });

  test('what the server sends is bounded: long messages, codes and request ids are cut between words', () => {
    const e = classify(400, { message: `${'word '.repeat(400)}end`, code: 'c'.repeat(500), param: 'p' }, { 'x-request-id': `id-${'z'.repeat(300)} tail` });
    expect(e.message.length).toBeLessThan(1200);
    expect((e.details as { code: string }).code).toBe('…'); // one 500-character word: dropped, never cut
    expect(e.message).not.toContain('z'.repeat(101));
  });

  test('a non-JSON body still gives a useful message', () => {
    const e = classifyHttpError(502, {}, {}, '<html>Bad Gateway</html>', ctx);
    expect(e.message).toContain('Bad Gateway');
  });
});

describe('stream error events', () => {
  test.each([
    [{ type: 'overloaded_error', message: 'Overloaded' }, 'server_error', true],
    [{ type: 'api_error' }, 'server_error', true],
    [{ type: 'rate_limit_error' }, 'rate_limited', true],
    [{ type: 'insufficient_quota' }, 'rate_limited', false],
    [{ type: 'invalid_request_error' }, 'bad_request', false],
    [{ type: 'authentication_error' }, 'unauthorized', false],
    [{ type: 'permission_error' }, 'forbidden', false],
    [{ type: 'not_found_error' }, 'not_found', false],
    [{ type: 'timeout_error' }, 'timeout', true],
    [{ code: 'context_length_exceeded' }, 'context_length_exceeded', false],
    [{ type: 'something_new' }, 'server_error', true],
  ] as const)('%o → %s', (info, kind, retryable) => {
    const e = classifyStreamError(info, undefined, ctx);
    expect(e.kind).toBe(kind);
    expect(e.retryable).toBe(retryable);
  });

  test('a numeric status in the event is classified like an HTTP status', () => {
    expect(classifyStreamError({ message: 'x' }, 429, ctx).kind).toBe('rate_limited');
    expect(classifyStreamError({ message: 'x' }, 503, ctx).kind).toBe('server_error');
  });
});
