import { InferenceError, type InferenceErrorKind } from '@inferkit/inference-core';
import type { Redactor } from '../log/redactor.js';
import { toOpenAIParam } from '../openai/to-openai-param.js';
import { GatewayError } from './gateway-error.js';

/**
 * What a client gets for each `InferenceError` kind: HTTP status, OpenAI error `type`, `code`, and
 * whose message. Only `bad_request` and `context_length_exceeded` pass the runner's message on
 * (written by validators, it names the field to fix; secrets and paths are removed first). Every
 * other kind gets a fixed message: runner text can hold upstream bodies, file paths, stderr
 * tails and environment values, and goes to the log instead. 5xx messages end with the request
 * id, which is also in the `x-request-id` header.
 *
 * | kind                                     | status | code                  | why                                                  |
 * |------------------------------------------|--------|-----------------------|------------------------------------------------------|
 * | rate_limited, backpressure, circuit_open | 429    | the kind              | come back later; `retry-after` says when             |
 * | budget_exceeded                          | 429    | budget_exceeded       | OpenAI's quota answer (`insufficient_quota` type)     |
 * | bad_request, content_filtered            | 400    | the kind              | the request itself is at fault                       |
 * | context_length_exceeded                  | 413    | context_length_exceeded | the prompt is too large for the model              |
 * | unauthorized, forbidden                  | 502    | upstream_unauthorized, upstream_forbidden | the provider refused the gateway's own credentials, not the client's key |
 * | not_found                                | 502    | upstream_not_found    | the provider does not know the configured model      |
 * | server_error, network_error              | 502    | the kind              | the upstream engine or provider failed               |
 * | timeout                                  | 504    | timeout               | the upstream did not answer in time                  |
 * | runtime_crashed, cuda_context_poisoned   | 503    | the kind              | the local engine is down until it is rebuilt         |
 * | cancelled                                | 499    | cancelled             | nginx's "client closed request"; rarely seen         |
 * | internal                                 | 500    | internal              | a bug                                                |
 */
const ANSWERS: Record<InferenceErrorKind, { status: number; type: string; code?: string; message: string }> = {
  rate_limited: { status: 429, type: 'rate_limit_error', message: 'Rate limit reached for this model; retry later' },
  backpressure: { status: 429, type: 'rate_limit_error', message: 'The model is at capacity; retry later' },
  circuit_open: { status: 429, type: 'rate_limit_error', message: 'The model is paused after repeated failures; retry later' },
  budget_exceeded: { status: 429, type: 'insufficient_quota', message: "The model's spending budget is exhausted" },
  bad_request: { status: 400, type: 'invalid_request_error', message: 'The request was refused by the model' },
  content_filtered: { status: 400, type: 'invalid_request_error', message: 'The request or its output was blocked by a content filter' },
  context_length_exceeded: { status: 413, type: 'invalid_request_error', message: "The prompt does not fit the model's context" },
  unauthorized: {
    status: 502,
    type: 'api_error',
    code: 'upstream_unauthorized',
    message: "The model's upstream provider refused the gateway's credentials (not your API key)",
  },
  forbidden: {
    status: 502,
    type: 'api_error',
    code: 'upstream_forbidden',
    message: "The model's upstream provider denied the gateway access (not your API key)",
  },
  not_found: { status: 502, type: 'api_error', code: 'upstream_not_found', message: "The model's upstream provider does not know the configured model" },
  server_error: { status: 502, type: 'api_error', message: "The model's backend failed" },
  network_error: { status: 502, type: 'api_error', message: "The gateway could not reach the model's backend" },
  timeout: { status: 504, type: 'api_error', message: "The model's backend did not answer in time" },
  runtime_crashed: { status: 503, type: 'api_error', message: "The model's engine is down" },
  cuda_context_poisoned: { status: 503, type: 'api_error', message: "The model's GPU context failed; the engine is down until it is rebuilt" },
  cancelled: { status: 499, type: 'api_error', message: 'The request was cancelled' },
  internal: { status: 500, type: 'api_error', message: 'Internal error' },
};

/** Kinds whose runner message reaches the client (redacted, paths removed, bounded). */
const MESSAGE_PASSES: ReadonlySet<InferenceErrorKind> = new Set(['bad_request', 'context_length_exceeded']);

// A 429 always carries retry-after (clients such as openai-node back off on it); without a hint
// from the runner, one second: the shortest value the header can express.
const DEFAULT_RETRY_SECONDS = 1;
const MAX_PARAM_LENGTH = 200;

/** Where an error is answered: the policies' clock, the request's id, the redactor. */
export interface ErrorContext {
  /** Now, on the clock the runners' policies use (for `circuit_open`'s `retry-after`). */
  nowMs: number;
  /** The request's id, appended to 5xx messages. */
  requestId?: string | undefined;
  /** Cleans the messages that pass; without one, no runner message passes. */
  redactor?: Redactor | undefined;
}

/** The message suffix that lets a client quote the request to the operator. */
export function withRequestId(message: string, requestId: string | undefined): string {
  return requestId === undefined ? message : `${message} (request id ${requestId}; details are in the gateway log)`;
}

/** Turns a runner's error into the gateway's HTTP answer (see the table above). */
export function mapInferenceError(err: InferenceError, context: ErrorContext): GatewayError {
  const answer = ANSWERS[err.kind] ?? ANSWERS.internal;
  let retryAfterSeconds: number | undefined;
  if (err.kind === 'circuit_open' || err.kind === 'rate_limited' || err.kind === 'backpressure') {
    // An open breaker knows when its probe is due, on the policies' clock.
    const retryAtMs = err.kind === 'circuit_open' ? (err.details as { retryAtMs?: number }).retryAtMs : undefined;
    const ms = typeof retryAtMs === 'number' ? retryAtMs - context.nowMs : err.retryAfterMs;
    retryAfterSeconds = ms !== undefined ? Math.max(1, Math.ceil(ms / 1000)) : DEFAULT_RETRY_SECONDS;
  }
  let message = answer.message;
  if (MESSAGE_PASSES.has(err.kind) && context.redactor !== undefined && err.message.length > 0) message = context.redactor.forClient(err.message);
  if (answer.status >= 500) message = withRequestId(message, context.requestId);
  const opts: { param?: string; retryAfterSeconds?: number } = {};
  const param = (err.details as { param?: unknown }).param;
  if (answer.status < 500 && typeof param === 'string' && param.length <= MAX_PARAM_LENGTH) opts.param = toOpenAIParam(param);
  if (retryAfterSeconds !== undefined) opts.retryAfterSeconds = retryAfterSeconds;
  return new GatewayError(answer.status, answer.type, answer.code ?? err.kind, message, opts);
}

/** Any thrown value → GatewayError (anything but an `InferenceError` or a `GatewayError` is a 500 `internal`). */
export function toGatewayError(err: unknown, context: ErrorContext): GatewayError {
  if (err instanceof GatewayError) return err;
  if (InferenceError.isInstance(err)) return mapInferenceError(err, context);
  return new GatewayError(500, 'api_error', 'internal', withRequestId(ANSWERS.internal.message, context.requestId));
}
