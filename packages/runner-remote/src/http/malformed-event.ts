import { InferenceError } from '@inferkit/inference-core';
import { snippet } from './response-sinks.js';

/**
 * A stream event that is not the JSON the provider documents. Not retryable: a server that
 * emits it once tends to emit it again for the same request.
 */
export function malformedEvent(provider: string, data: string): InferenceError {
  return new InferenceError('server_error', `${provider}: malformed stream event: ${snippet(data, 120)}`, {
    provider,
    retryable: false,
    details: { code: 'malformed_event' },
  });
}
