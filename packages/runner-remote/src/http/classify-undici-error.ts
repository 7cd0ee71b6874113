import { InferenceError } from '@inferkit/inference-core';
import type { HttpTimeouts } from './timeouts.js';

// Codes of system errors that mean "the connection failed", as opposed to a bug.
const NETWORK_CODES = new Set([
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CONNECT',
  'UND_ERR_INFO',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'HPE_INVALID_CHUNK_SIZE',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'Z_DATA_ERROR',
  'Z_BUF_ERROR',
]);

/**
 * Maps an undici (or socket/zlib) failure to an `InferenceError`, by `err.code` only: undici
 * documents the codes as the stable way to tell its errors apart.
 */
export function classifyUndiciError(err: unknown, timeouts: HttpTimeouts, provider: string): InferenceError {
  if (InferenceError.isInstance(err)) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  const message = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return timeout('connect', timeouts.connectMs, err, provider);
    case 'UND_ERR_HEADERS_TIMEOUT':
      return timeout('first_byte', timeouts.firstByteMs, err, provider);
    case 'UND_ERR_BODY_TIMEOUT':
      return timeout('idle', timeouts.idleMs, err, provider);
    case 'UND_ERR_ABORTED':
    case 'ABORT_ERR':
      return new InferenceError('cancelled', 'request aborted', { cause: err, provider, details: { reason: message } });
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RESPONSE_EXCEEDED_MAX_SIZE':
      return new InferenceError('server_error', `response rejected: ${message}`, {
        cause: err,
        provider,
        retryable: false,
        details: { code },
      });
    default:
      break;
  }
  if (code !== undefined && (NETWORK_CODES.has(code) || code.startsWith('HPE_'))) {
    return new InferenceError('network_error', `connection failed: ${message}`, { cause: err, provider, details: { code } });
  }
  if ((err as Error)?.name === 'AbortError') {
    return new InferenceError('cancelled', 'request aborted', { cause: err, provider, details: { reason: message } });
  }
  return new InferenceError('internal', `HTTP layer failure: ${message}`, {
    cause: err,
    provider,
    details: { originalName: (err as Error)?.name },
  });
}

function timeout(phase: string, timeoutMs: number, cause: unknown, provider: string): InferenceError {
  return new InferenceError('timeout', `${phase.replace('_', '-')} timeout after ${timeoutMs} ms`, {
    cause,
    provider,
    details: { phase, timeoutMs },
  });
}
