import { InferenceError, type InferenceErrorKind } from '@inferkit/inference-core';
import { GatewayError } from './gateway-error.js';

/**
 * HTTP status and OpenAI error type for each `InferenceError` kind. The body's `code` is the kind
 * itself, so clients can match on it exactly as they would in-process.
 *
 * | kind                                        | status | why                                               |
 * |---------------------------------------------|--------|---------------------------------------------------|
 * | rate_limited, backpressure, circuit_open    | 429    | come back later; `retry-after` says when          |
 * | budget_exceeded                             | 429    | OpenAI's quota answer (`insufficient_quota` type) |
 * | bad_request, content_filtered               | 400    | the request itself is at fault                    |
 * | unauthorized / forbidden / not_found        | 401 / 403 / 404 |                                          |
 * | context_length_exceeded                     | 413    | the prompt is too large for the model             |
 * | server_error, network_error                 | 502    | the upstream engine or provider failed            |
 * | timeout                                     | 504    | the upstream did not answer in time               |
 * | runtime_crashed, cuda_context_poisoned      | 503    | the local engine is down until it is rebuilt      |
 * | cancelled                                   | 499    | nginx's "client closed request"; rarely seen      |
 * | internal                                    | 500    | a bug                                             |
 */
const STATUS: Record<InferenceErrorKind, [number, string]> = {
  rate_limited: [429, 'rate_limit_error'],
  backpressure: [429, 'rate_limit_error'],
  circuit_open: [429, 'rate_limit_error'],
  budget_exceeded: [429, 'insufficient_quota'],
  bad_request: [400, 'invalid_request_error'],
  content_filtered: [400, 'invalid_request_error'],
  unauthorized: [401, 'authentication_error'],
  forbidden: [403, 'permission_error'],
  not_found: [404, 'not_found_error'],
  context_length_exceeded: [413, 'invalid_request_error'],
  server_error: [502, 'api_error'],
  network_error: [502, 'api_error'],
  timeout: [504, 'api_error'],
  runtime_crashed: [503, 'api_error'],
  cuda_context_poisoned: [503, 'api_error'],
  cancelled: [499, 'api_error'],
  internal: [500, 'api_error'],
};

// A 429 always carries retry-after (clients such as openai-node back off on it); without a hint
// from the runner, one second: the shortest value the header can express.
const DEFAULT_RETRY_SECONDS = 1;

/** Turns a runner's error into the gateway's HTTP answer. `nowMs` is the policies' clock. */
export function mapInferenceError(err: InferenceError, nowMs: number): GatewayError {
  const [status, type] = STATUS[err.kind] ?? [500, 'api_error'];
  let retryAfterSeconds: number | undefined;
  if (err.kind === 'circuit_open') {
    const details = err.details as { retryAtMs?: number };
    const ms = typeof details.retryAtMs === 'number' ? details.retryAtMs - nowMs : err.retryAfterMs;
    retryAfterSeconds = ms !== undefined ? Math.max(1, Math.ceil(ms / 1000)) : DEFAULT_RETRY_SECONDS;
  } else if (err.kind === 'rate_limited' || err.kind === 'backpressure') {
    retryAfterSeconds =
      err.retryAfterMs !== undefined ? Math.max(1, Math.ceil(err.retryAfterMs / 1000)) : DEFAULT_RETRY_SECONDS;
  }
  const details = err.details as { param?: unknown };
  const param = typeof details.param === 'string' ? details.param : undefined;
  const opts: { param?: string; retryAfterSeconds?: number } = {};
  if (param !== undefined) opts.param = param;
  if (retryAfterSeconds !== undefined) opts.retryAfterSeconds = retryAfterSeconds;
  return new GatewayError(status, type, err.kind, err.message, opts);
}

/** Any thrown value → GatewayError (non-InferenceErrors become 500 `internal`). */
export function toGatewayError(err: unknown, nowMs: number): GatewayError {
  if (err instanceof GatewayError) return err;
  if (InferenceError.isInstance(err)) return mapInferenceError(err, nowMs);
  return new GatewayError(500, 'api_error', 'internal', 'internal error');
}
