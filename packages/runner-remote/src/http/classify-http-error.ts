import { InferenceError } from '@inferkit/inference-core';
import { header, parseRetryAfterMs, type ResponseHeaders } from './response-headers.js';
import { snippet } from './response-sinks.js';

/** The fields of a provider error body that classification looks at (each provider fills it). */
export interface ProviderErrorInfo {
  message?: string;
  /** OpenAI `error.type`, Anthropic `error.type`, Gemini `error.status`. */
  type?: string;
  /** OpenAI `error.code`, Gemini `ErrorInfo.reason`. */
  code?: string;
  param?: string;
  /** Delay the body asks for (Gemini `RetryInfo.retryDelay`), in ms. */
  retryDelayMs?: number;
}

/**
 * What classification knows about the request. Secrets a server may echo are not its concern:
 * every error a request delivers is redacted at one place on its way out (`ChunkStream.fail`).
 */
export interface ClassifyContext {
  provider: string;
  /** Model of the request, for `not_found` details. */
  model?: string;
  nowMs?: number;
}

/** Longest provider message kept in an error message (bodies can be 64 KiB). */
const MAX_DETAIL_CHARS = 1000;

const CONTEXT_LENGTH = /context.length|context window|maximum context|too many tokens|prompt is too long|input is too long|exceeds the maximum number of tokens|input token count/i;
const CONTENT_FILTER = /content[_ ]filter|content management policy|responsibleaipolicyviolation|content_policy_violation|safety system/i;

/**
 * Maps an HTTP error response to an `InferenceError`. Status decides the kind; the body
 * refines it (context length and content filtering hide inside 400s; quota exhaustion inside
 * 429s and is not retryable). `x-should-retry` overrides the retryable default when present.
 */
export function classifyHttpError(
  status: number,
  headers: ResponseHeaders,
  info: ProviderErrorInfo,
  bodyText: string,
  ctx: ClassifyContext,
): InferenceError {
  info = bounded(info);
  const detail = info.message !== undefined ? snippet(info.message, MAX_DETAIL_CHARS) : snippet(bodyText) || 'no body';
  const headerRetry = parseRetryAfterMs(headers, ctx.nowMs);
  const retryAfterMs = headerRetry ?? info.retryDelayMs;
  const rawId = header(headers, 'x-request-id') ?? header(headers, 'request-id');
  const upstreamId = rawId !== undefined ? snippet(rawId, 100) : undefined;
  const message = `${ctx.provider} HTTP ${status}: ${detail}${upstreamId !== undefined ? ` (upstream request ${upstreamId})` : ''}`;
  const shouldRetry = header(headers, 'x-should-retry');
  const base = {
    status,
    provider: ctx.provider,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(shouldRetry === 'true' ? { retryable: true } : shouldRetry === 'false' ? { retryable: false } : {}),
  };
  const code = info.code ?? info.type;
  const text = `${info.code ?? ''} ${info.type ?? ''} ${info.message ?? ''}`;

  // Gemini answers a bad API key with 400 INVALID_ARGUMENT; the reason says what it is.
  if (status === 400 && /API_KEY_INVALID|invalid_api_key/.test(info.code ?? '')) {
    return new InferenceError('unauthorized', message, { ...base, details: { code: info.code! } });
  }
  if (status === 429) {
    const quota = /insufficient_quota|billing|exceeded your current quota/i.test(text);
    return new InferenceError('rate_limited', message, {
      ...base,
      ...(quota ? { retryable: false } : {}),
      details: { scope: quota ? 'quota' : (info.type ?? 'requests') },
    });
  }
  if (status === 400 || status === 413 || status === 422) {
    if (info.code === 'context_length_exceeded' || CONTEXT_LENGTH.test(text)) {
      return new InferenceError('context_length_exceeded', message, { ...base, details: contextNumbers(info.message ?? '') });
    }
    if (CONTENT_FILTER.test(text)) {
      return new InferenceError('content_filtered', message, {
        ...base,
        details: { stage: 'input', ...(code ? { category: code } : {}) },
      });
    }
    return new InferenceError('bad_request', message, {
      ...base,
      details: { ...(info.param ? { param: info.param } : {}), ...(code ? { code } : {}) },
    });
  }
  if (status === 401) return new InferenceError('unauthorized', message, { ...base, details: code ? { code } : {} });
  if (status === 402 || status === 403) {
    return new InferenceError('forbidden', message, { ...base, details: code ? { code } : {} });
  }
  if (status === 404) {
    return new InferenceError('not_found', message, { ...base, details: ctx.model ? { resource: ctx.model } : {} });
  }
  if (status === 408) return new InferenceError('timeout', message, { ...base, details: { phase: 'server' } });
  if (status === 409 || status >= 500) {
    // 409 is a transient lock conflict for OpenAI (its SDK retries it); 529 is Anthropic's overload.
    return new InferenceError('server_error', message, { ...base, details: code ? { code } : {} });
  }
  return new InferenceError('bad_request', message, {
    ...base,
    details: { ...(code ? { code } : {}), ...(info.param ? { param: info.param } : {}) },
  });
}

/** Longest code, type or param copied into `details` (they come from the server). */
const MAX_FIELD_CHARS = 200;

function bounded(info: ProviderErrorInfo): ProviderErrorInfo {
  const clip = (v: string | undefined) => (v !== undefined && v.length > MAX_FIELD_CHARS ? snippet(v, MAX_FIELD_CHARS) : v);
  const out: ProviderErrorInfo = { ...info };
  for (const k of ['code', 'type', 'param'] as const) {
    const v = clip(info[k]);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** "maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens". */
function contextNumbers(message: string): { maxContextTokens?: number; requestedTokens?: number } {
  const out: { maxContextTokens?: number; requestedTokens?: number } = {};
  const max = /maximum context length is (\d+)|context window of (\d+)|maximum of (\d+) tokens|(?:>|exceeds) (\d+) maximum|limit of (\d+)/i.exec(message);
  const maxValue = max?.slice(1).find((g) => g !== undefined);
  if (maxValue !== undefined) out.maxContextTokens = Number(maxValue);
  const req = /resulted in (\d+) tokens|prompt is too long: (\d+) tokens|requested (\d+) tokens|input token count \((\d+)\)/i.exec(message);
  const reqValue = req?.slice(1).find((g) => g !== undefined);
  if (reqValue !== undefined) out.requestedTokens = Number(reqValue);
  return out;
}

/**
 * Maps an error that arrives inside a 200 stream (OpenAI `data: {"error":…}`, Anthropic
 * `event: error`, Gemini chunks with `error`) by its type/code, or by its numeric status when
 * the provider gives one. Unknown types count as `server_error`: the server broke the stream.
 */
export function classifyStreamError(info: ProviderErrorInfo, status: number | undefined, ctx: ClassifyContext): InferenceError {
  info = bounded(info);
  if (status !== undefined && status >= 400 && status < 600) {
    return classifyHttpError(status, {}, info, '', ctx);
  }
  const text = `${info.type ?? ''} ${info.code ?? ''}`.toLowerCase();
  const message = `${ctx.provider} stream error: ${snippet(info.message ?? info.type ?? 'unknown error', MAX_DETAIL_CHARS)}`;
  const base = { provider: ctx.provider, ...(info.retryDelayMs !== undefined ? { retryAfterMs: info.retryDelayMs } : {}) };
  const code = info.code ?? info.type;
  if (/rate_limit|resource_exhausted|too_many_requests/.test(text)) {
    return new InferenceError('rate_limited', message, { ...base, details: { scope: info.type ?? 'requests' } });
  }
  if (/insufficient_quota/.test(text)) {
    return new InferenceError('rate_limited', message, { ...base, retryable: false, details: { scope: 'quota' } });
  }
  if (/context_length/.test(text)) return new InferenceError('context_length_exceeded', message, { ...base, details: {} });
  if (/content_filter|safety|content_policy/.test(text)) {
    return new InferenceError('content_filtered', message, { ...base, details: { stage: 'output', ...(code ? { category: code } : {}) } });
  }
  if (/authentication|unauthenticated|invalid_api_key/.test(text)) return new InferenceError('unauthorized', message, { ...base, details: code ? { code } : {} });
  if (/permission/.test(text)) return new InferenceError('forbidden', message, { ...base, details: code ? { code } : {} });
  if (/not_found/.test(text)) return new InferenceError('not_found', message, { ...base, details: ctx.model ? { resource: ctx.model } : {} });
  if (/invalid_request|invalid_argument/.test(text)) return new InferenceError('bad_request', message, { ...base, details: code ? { code } : {} });
  if (/timeout|deadline/.test(text)) return new InferenceError('timeout', message, { ...base, details: { phase: 'server' } });
  return new InferenceError('server_error', message, { ...base, details: code ? { code } : {} });
}
