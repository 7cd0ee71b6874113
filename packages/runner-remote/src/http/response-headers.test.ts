import { describe, expect, test } from 'vitest';
import { parseDurationMs, parseRateLimitHeaders, parseRetryAfterMs } from './response-headers.js';

const NOW = Date.parse('2025-08-21T12:40:00Z');

describe('retry-after', () => {
  test('retry-after-ms wins over retry-after', () => {
    expect(parseRetryAfterMs({ 'retry-after-ms': '250.5', 'retry-after': '9' }, NOW)).toBe(250.5);
  });
  test('retry-after in seconds or as an HTTP date', () => {
    expect(parseRetryAfterMs({ 'retry-after': '2' }, NOW)).toBe(2000);
    expect(parseRetryAfterMs({ 'retry-after': '0.5' }, NOW)).toBe(500);
    expect(parseRetryAfterMs({ 'retry-after': 'Thu, 21 Aug 2025 12:40:30 GMT' }, NOW)).toBe(30_000);
    expect(parseRetryAfterMs({ 'retry-after': 'Thu, 21 Aug 2025 12:00:00 GMT' }, NOW)).toBe(0);
  });
  test('garbage and negatives give undefined', () => {
    expect(parseRetryAfterMs({ 'retry-after-ms': '-5' }, NOW)).toBeUndefined();
    expect(parseRetryAfterMs({ 'retry-after': 'soon' }, NOW)).toBeUndefined();
    expect(parseRetryAfterMs({ 'retry-after': '' }, NOW)).toBeUndefined();
    expect(parseRetryAfterMs({}, NOW)).toBeUndefined();
  });
});

describe('durations', () => {
  test.each([
    ['1s', 1000],
    ['6m0s', 360_000],
    ['12ms', 12],
    ['1h2m3.5s', 3_723_500],
    ['27s', 27_000],
    ['0.5s', 500],
    ['3', 3000],
  ])('%s → %d ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));
  test('invalid', () => {
    expect(parseDurationMs('')).toBeUndefined();
    expect(parseDurationMs('5 minutes')).toBeUndefined();
    expect(parseDurationMs('1x')).toBeUndefined();
  });
});

describe('rate-limit headers', () => {
  test('OpenAI x-ratelimit-* with duration resets', () => {
    expect(
      parseRateLimitHeaders(
        {
          'x-ratelimit-limit-requests': '500',
          'x-ratelimit-remaining-requests': '499',
          'x-ratelimit-reset-requests': '120ms',
          'x-ratelimit-limit-tokens': '30000',
          'x-ratelimit-remaining-tokens': '29000',
          'x-ratelimit-reset-tokens': '2s',
        },
        NOW,
      ),
    ).toEqual({ requests: { limit: 500, remaining: 499, resetMs: 120 }, tokens: { limit: 30000, remaining: 29000, resetMs: 2000 } });
  });
  test('Anthropic anthropic-ratelimit-* with RFC 3339 resets, plus retry-after', () => {
    expect(
      parseRateLimitHeaders(
        {
          'anthropic-ratelimit-requests-limit': '50',
          'anthropic-ratelimit-requests-remaining': '0',
          'anthropic-ratelimit-requests-reset': '2025-08-21T12:40:59Z',
          'retry-after': '59',
        },
        NOW,
      ),
    ).toEqual({ requests: { limit: 50, remaining: 0, resetMs: 59_000 }, retryAfterMs: 59_000 });
  });
  test('no headers → undefined', () => {
    expect(parseRateLimitHeaders({ 'content-type': 'text/event-stream' }, NOW)).toBeUndefined();
  });
});
