import type { GatewayTracing } from './telemetry/gateway-tracing.js';
import type { Clock, ModelRunner } from '@inferkit/inference-core';
import type { ModelHealth } from './health/model-health.js';
import type { GatewayLogger } from './log/gateway-logger.js';

/** One model the gateway serves. */
export interface GatewayModel {
  /** The runner that serves it (wrap it with `supervise` for rate limits, retries, breaker, rebuilds). */
  runner: ModelRunner;
  /** Model id handed to the runner in `ExecuteBatch.model`; defaults to the gateway's name. */
  runnerModel?: string;
  /**
   * Settles when the model can serve (weights loaded). Until it resolves requests get 503
   * `model_loading`; if it rejects, 503 `model_unavailable` (the reason goes to the log only).
   */
  ready?: Promise<unknown>;
  /**
   * Not listed in `GET /v1/models` and refused by name (404 `model_not_found`): the model is only
   * reachable as a target of a routed model (a `Router` runner). Health and metrics still show it.
   */
  hidden?: boolean;
  /** `owned_by` in `GET /v1/models` (default `'inferkit'`). */
  ownedBy?: string;
  /**
   * The model's health, when the caller wants to feed it `supervise`'s events
   * (`onEvent: health.observe`) so rebuilds show in `/healthz`. Default: a fresh one, fed by
   * request outcomes only.
   */
  health?: ModelHealth;
  /**
   * The model's context window in tokens, when known. Prompts that could not fit even at
   * `MAX_CHARS_PER_TOKEN` characters per token are refused with 413 `context_length_exceeded`
   * before the runner sees them. Without it, the gateway learns the window from the
   * `maxContextTokens` of the runner's first `context_length_exceeded` error.
   */
  contextTokens?: number;
  /**
   * Most characters of prompt text (messages, tool calls and tool definitions) accepted for this
   * model; more is refused with 413 `context_length_exceeded` before the runner sees it. Default:
   * the gateway's `maxBodyBytes` (a body cannot carry more), so only `contextTokens` narrows it.
   */
  maxPromptChars?: number;
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
  /**
   * `Host` header values served besides the loopback ones (`localhost`, `127.x.y.z`, `[::1]`);
   * `['*']` serves any. When given, every request is checked. When absent, requests are checked
   * only while the gateway listens on a loopback address without `apiKeys` (the keyless local
   * default, which a web page could otherwise reach by DNS rebinding); refused ones get 403
   * `host_not_allowed`.
   */
  allowedHosts?: string[];
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** How long `close()` lets in-flight requests finish before cancelling them (default 10 s). */
  shutdownGraceMs?: number;
  /** The clock the runners' policies use; `retry-after` for `circuit_open` is computed on it. */
  clock?: Clock;
  /**
   * Receives what the operator should know: server-side request failures with their full
   * (redacted) text, model load failures, models going down and coming back. Default
   * `stderrJsonLogger` (one JSON object per line on stderr). Never receives prompts or outputs.
   */
  logger?: GatewayLogger;
  /**
   * Spans: a SERVER span per chat request, under which the models' `supervise` spans nest
   * (`openTelemetryTracing()` builds one from `@opentelemetry/api`). Default none.
   */
  tracing?: GatewayTracing;
}

/** Default `maxBodyBytes`: room for long multi-turn prompts; images should be URLs, not inline. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;
/**
 * Characters per token above which a prompt is taken not to fit a model's `contextTokens`:
 * tokenizers average 3–5 characters per token on text and code, so a prompt needing more than 16
 * would not fit whatever the tokenizer. Only that much is refused without tokenizing.
 */
export const MAX_CHARS_PER_TOKEN = 16;
