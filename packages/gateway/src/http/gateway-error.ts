/**
 * An error the gateway answers with: an HTTP status plus the OpenAI error body fields. Produced
 * by request validation directly and by `mapInferenceError` from runner errors.
 */
export class GatewayError extends Error {
  /** HTTP status. */
  readonly status: number;
  /** OpenAI error `type` (`invalid_request_error`, `rate_limit_error`, ...). */
  readonly type: string;
  /** Stable machine-readable code; for runner errors this is the `InferenceError` kind. */
  readonly code: string;
  /** Offending request field, if one is to blame. */
  readonly param: string | null;
  /** Seconds for the `retry-after` header; `undefined` sends none. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    status: number,
    type: string,
    code: string,
    message: string,
    options?: { param?: string; retryAfterSeconds?: number },
  ) {
    super(message);
    this.name = 'GatewayError';
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = options?.param ?? null;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** The OpenAI-shaped body: `{ error: { message, type, param, code } }`. */
  toBody(): { error: { message: string; type: string; param: string | null; code: string } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 for a malformed or invalid request field. */
export function invalidRequest(message: string, param?: string, code = 'invalid_request'): GatewayError {
  return new GatewayError(400, 'invalid_request_error', code, message, param !== undefined ? { param } : undefined);
}
