/**
 * One thing the gateway tells its operator. Text fields are redacted (`Redactor`) before a
 * logger sees them; prompts and outputs are never logged.
 */
export interface GatewayLogRecord {
  /** `error`: a request failed on the server side; `warn`: a model went down; `info`: it came back. */
  level: 'error' | 'warn' | 'info';
  /**
   * What happened: `request_failed` (a 5xx answer or a refused upstream credential),
   * `model_load_failed`, `model_down`, `model_up`, `rebuild_started`, `rebuild_finished`,
   * `rebuild_gave_up`.
   */
  event: string;
  /** The request's id (`x-request-id`, `id` of the completion), when a request is involved. */
  requestId?: string;
  /** The model's name as clients send it. */
  model?: string;
  /** HTTP status answered. */
  status?: number;
  /** The error `code` answered (the `InferenceError` kind or the gateway's own code). */
  code?: string;
  /** The full, redacted error text (what the client did not get). */
  message: string;
  /** Redacted JSON of the error's details (exit code, stderr tail, provider status, …). */
  details?: string;
}

/** Receives the gateway's log records. Must not throw; a throwing logger is ignored. */
export type GatewayLogger = (record: GatewayLogRecord) => void;

/** The default logger: one JSON object per line on stderr, with an ISO time. */
export const stderrJsonLogger: GatewayLogger = (record) => {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
};
