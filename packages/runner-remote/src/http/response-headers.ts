import type { RateLimitObservation } from '@inferkit/inference-core';
import type { IncomingHttpHeaders } from 'undici/types/header.js';

/** Headers as undici hands them over: lower-case names, repeated headers as arrays. */
export type ResponseHeaders = IncomingHttpHeaders;

/** The value of header `name` (its last occurrence when repeated). */
export function header(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return v;
}

/**
 * The delay a response asks for before retrying, in ms: `retry-after-ms` (float ms) first,
 * then `retry-after` as seconds or an HTTP date. Negative, non-finite or unparsable values
 * give `undefined`; capping is the retry policy's job.
 */
export function parseRetryAfterMs(headers: ResponseHeaders, nowMs: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined) {
    const n = Number(ms.trim());
    if (ms.trim() !== '' && n >= 0 && !Number.isNaN(n)) return finite(n);
  }
  const ra = header(headers, 'retry-after');
  if (ra === undefined) return undefined;
  const s = ra.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return finite(Number(s) * 1000);
  const at = Date.parse(s);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * Stands for a delay too long to be a number (a 400-digit header): still "longer than any cap",
 * so the retry policy fails fast, but finite, so arithmetic and JSON stay sound.
 */
export const FOREVER_MS = Number.MAX_SAFE_INTEGER;

function finite(n: number): number {
  return Number.isFinite(n) ? Math.min(n, FOREVER_MS) : FOREVER_MS;
}

/**
 * Parses Go-style durations as OpenAI sends them in `x-ratelimit-reset-*` (`1s`, `6m0s`,
 * `12ms`, `1h2m3.5s`) and Google's `retryDelay` (`27s`, `0.5s`). Returns ms, or `undefined`.
 */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(s)) return finite(Number(s) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) return undefined;
    const n = Number(m[1]);
    switch (m[2]) {
      case 'h':
        total += n * 3_600_000;
        break;
      case 'm':
        total += n * 60_000;
        break;
      case 's':
        total += n * 1000;
        break;
      case 'ms':
        total += n;
        break;
      case 'us':
      case 'µs':
        total += n / 1000;
        break;
      default:
        total += n / 1_000_000;
        break;
    }
    pos = re.lastIndex;
  }
  return finite(total);
}

/** Remaining capacity reported by a provider, normalised across header conventions. */
export interface RateLimitSnapshot {
  requests?: { limit?: number; remaining?: number; resetMs?: number };
  tokens?: { limit?: number; remaining?: number; resetMs?: number };
  /** From `retry-after-ms` / `retry-after`. */
  retryAfterMs?: number;
}

/**
 * Reads `x-ratelimit-*` (OpenAI and most compatible servers; resets are durations) and
 * `anthropic-ratelimit-*` (resets are RFC 3339 times). Returns `undefined` when none is present.
 */
export function parseRateLimitHeaders(headers: ResponseHeaders, nowMs: number = Date.now()): RateLimitSnapshot | undefined {
  const snap: RateLimitSnapshot = {};
  const requests = bucket(
    header(headers, 'x-ratelimit-limit-requests') ?? header(headers, 'anthropic-ratelimit-requests-limit'),
    header(headers, 'x-ratelimit-remaining-requests') ?? header(headers, 'anthropic-ratelimit-requests-remaining'),
    resetMs(header(headers, 'x-ratelimit-reset-requests'), header(headers, 'anthropic-ratelimit-requests-reset'), nowMs),
  );
  const tokens = bucket(
    header(headers, 'x-ratelimit-limit-tokens') ?? header(headers, 'anthropic-ratelimit-tokens-limit'),
    header(headers, 'x-ratelimit-remaining-tokens') ?? header(headers, 'anthropic-ratelimit-tokens-remaining'),
    resetMs(header(headers, 'x-ratelimit-reset-tokens'), header(headers, 'anthropic-ratelimit-tokens-reset'), nowMs),
  );
  if (requests !== undefined) snap.requests = requests;
  if (tokens !== undefined) snap.tokens = tokens;
  const retryAfterMs = parseRetryAfterMs(headers, nowMs);
  if (retryAfterMs !== undefined) snap.retryAfterMs = retryAfterMs;
  return requests === undefined && tokens === undefined && retryAfterMs === undefined ? undefined : snap;
}

function bucket(limit: string | undefined, remaining: string | undefined, reset: number | undefined) {
  const l = toCount(limit);
  const r = toCount(remaining);
  if (l === undefined && r === undefined && reset === undefined) return undefined;
  const b: { limit?: number; remaining?: number; resetMs?: number } = {};
  if (l !== undefined) b.limit = l;
  if (r !== undefined) b.remaining = r;
  if (reset !== undefined) b.resetMs = reset;
  return b;
}

function toCount(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  return v.trim() !== '' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function resetMs(duration: string | undefined, timestamp: string | undefined, nowMs: number): number | undefined {
  if (duration !== undefined) return parseDurationMs(duration);
  if (timestamp !== undefined) {
    const at = Date.parse(timestamp);
    return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
  }
  return undefined;
}

/**
 * Header snapshot → the core's `RateLimitObservation`. The reset that matters is that of an
 * exhausted bucket (the later one when both are).
 */
export function toObservation(s: RateLimitSnapshot): RateLimitObservation {
  const obs: RateLimitObservation = {};
  const rr = s.requests?.remaining;
  const rt = s.tokens?.remaining;
  if (rr !== undefined) obs.remainingRequests = rr;
  if (rt !== undefined) obs.remainingTokens = rt;
  let reset: number | undefined;
  for (const r of [rr === 0 ? s.requests?.resetMs : undefined, rt === 0 ? s.tokens?.resetMs : undefined]) {
    if (r !== undefined && (reset === undefined || r > reset)) reset = r;
  }
  if (reset !== undefined) obs.resetMs = reset;
  return obs;
}
