import type { Clock, ModelRunner } from '@inferkit/inference-core';

/** One model the gateway serves. */
export interface GatewayModel {
  /** The runner that serves it (wrap it with `supervise` for rate limits, retries, breaker). */
  runner: ModelRunner;
  /** Model id handed to the runner in `ExecuteBatch.model`; defaults to the gateway's name. */
  runnerModel?: string;
  /**
   * Settles when the model can serve (weights loaded). Until it resolves requests get 503
   * `model_loading`; if it rejects, 503 `model_unavailable` with its message.
   */
  ready?: Promise<unknown>;
  /** `owned_by` in `GET /v1/models` (default `'inferkit'`). */
  ownedBy?: string;
}

/** Options of `createGateway`. */
export interface GatewayOptions {
  /** Models by the name clients send in `model`. */
  models: Record<string, GatewayModel>;
  /**
   * Accepted bearer tokens. When set (non-empty), every `/v1/*` route requires
   * `Authorization: Bearer <key>` and answers 401 otherwise; `/healthz` and `/metrics` stay open
   * (they expose no prompts or outputs, and probes and scrapers rarely carry credentials).
   */
  apiKeys?: string[];
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** How long `close()` lets in-flight requests finish before cancelling them (default 10 s). */
  shutdownGraceMs?: number;
  /** The clock the runners' policies use; `retry-after` for `circuit_open` is computed on it. */
  clock?: Clock;
  /** Called with every error answered with a 5xx status, for logging. Never with prompts. */
  onServerError?: (info: { requestId: string | undefined; model: string; status: number; code: string; message: string }) => void;
}

/** Default `maxBodyBytes`: room for long multi-turn prompts; images should be URLs, not inline. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
