import { inspect } from 'node:util';
import {
  abortError,
  InferenceError,
  rebuildCauseApplies,
  type ExecuteBatch,
  type ExecuteOptions,
  type ModelRunner,
  type ProviderKind,
  type RateLimitObservation,
  type RateLimits,
  type RunHandle,
  type RunnerCapabilities,
  type RuntimeKind,
  type SessionRebuildCause,
  type TokenChunk,
  type TokenUsage,
  type TransportKind,
  validateBatch,
} from '@inferkit/inference-core';
import { ChunkStream, withRequestId } from './http/chunk-stream.js';
import { classifyHttpError, type ClassifyContext, type ProviderErrorInfo } from './http/classify-http-error.js';
import { CredentialSource, type CredentialInput, type Secret } from './http/credentials.js';
import { HttpTransport, type HttpPoolStats, type HttpRequest } from './http/http-transport.js';
import { OutputWatchdog } from './http/output-watchdog.js';
import { RateLimitGate } from './http/rate-limit-gate.js';
import { redactError } from './http/redact-error.js';
import { parseRateLimitHeaders, type ResponseHeaders } from './http/response-headers.js';
import { JsonResponseSink, SseResponseSink, type StreamDecoder } from './http/response-sinks.js';
import { resolveTimeouts, type HttpTimeouts } from './http/timeouts.js';
import { costFromUsage, estimateCost, findPrice, mergePriceTables } from './pricing/cost.js';
import type { ModelPrice, PriceTable } from './pricing/model-price.js';

/** Emits one chunk of the current request. */
export type ChunkEmitter = (chunk: TokenChunk) => void;

/**
 * What a provider module supplies: how to build its requests and read its responses. The
 * runner around it owns transport, credentials, errors, cost and cancellation.
 */
export interface ProviderWire {
  /** Label on errors and in `toJSON()` (`'openai'`, `'azure-openai'`, `'vllm'`, ...). */
  readonly label: string;
  readonly runtime: RuntimeKind;
  readonly provider: ProviderKind;
  /** Builds the HTTP request; throws `bad_request` for input the provider cannot take. */
  buildRequest(batch: ExecuteBatch, secret: Secret | undefined): HttpRequest;
  /** A decoder for one streamed response; `ctx` classifies error events. */
  createDecoder(batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): StreamDecoder;
  /** Emits the chunks of one unary response; throws `InferenceError` for malformed bodies. */
  decodeUnary(json: unknown, batch: ExecuteBatch, emit: ChunkEmitter, ctx: ClassifyContext): void;
  /** Reads the provider's error body (any shape, possibly not JSON). */
  parseError(bodyText: string): ProviderErrorInfo;
}

/** Options every remote runner takes. */
export interface RemoteRunnerOptions {
  /** API root, e.g. `https://api.openai.com/v1` (providers and presets have defaults). */
  baseUrl?: string;
  /** API key or token; see `CredentialInput`. Never printed. */
  apiKey?: CredentialInput;
  /** Extra request headers (not for secrets: use `apiKey`). */
  headers?: Record<string, string>;
  /** Connect, first-byte, idle and total deadlines (ms); see `HttpTimeouts` and `DEFAULT_TIMEOUTS`. */
  timeouts?: Partial<HttpTimeouts>;
  /** Price overrides by model id prefix (USD per million tokens); `null` removes a default. */
  pricing?: Record<string, ModelPrice | null>;
  /** Your account's limits, returned by `rateLimits()` for `supervise` to enforce. */
  rateLimits?: RateLimits;
  /** Most sockets to the origin. */
  maxConnections?: number;
  /** Largest single SSE event accepted (bytes, default 4 MiB). */
  maxEventBytes?: number;
  /**
   * Longest wait a provider's rate-limit headers may impose (ms, default 60,000, the retry
   * policy's Retry-After cap). A longer reset fails requests at once with `rate_limited` and
   * `retryAfterMs` instead of parking them; see `RateLimitGate`.
   */
  maxRateLimitWaitMs?: number;
}

/** Internal construction parameters resolved by each provider's factory. */
export interface RemoteRunnerInit {
  wire: ProviderWire;
  baseUrl: string;
  options: RemoteRunnerOptions;
  defaultPrices: PriceTable;
  /** Whether requests fail without a credential (hosted APIs) or go out without one (local servers). */
  credentialRequired: boolean;
  /** What this provider (or preset) honours; everything else is refused with `bad_request`. */
  capabilities: RunnerCapabilities;
}

/** Default of `RemoteRunnerOptions.maxRateLimitWaitMs`: the retry policy's default Retry-After cap. */
export const DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 60_000;

const EMPTY_USAGE_KEYS = ['inputTokens', 'outputTokens', 'reasoningTokens', 'cachedTokens'] as const;
const NO_LIMITS: RateLimits = Object.freeze({});

/**
 * A `ModelRunner` over one provider wire. Built by the provider helpers (`createOpenAIRunner`,
 * ...) and by `runnerFactory` / `createRemoteRunner`, which wrap it in `supervise`.
 */
export class RemoteRunner implements ModelRunner {
  readonly #wire: ProviderWire;
  readonly #credential: CredentialSource;
  readonly #credentialRequired: boolean;
  readonly #transport: HttpTransport;
  readonly #prices: PriceTable;
  readonly #basePath: string;
  readonly #extraHeaders: Record<string, string>;
  readonly #options: RemoteRunnerOptions;
  readonly #capabilities: RunnerCapabilities;
  readonly #gate: RateLimitGate;
  readonly #listeners: Set<(observation: RateLimitObservation) => void>;
  #closed: boolean;
  #rebuilding: Promise<void> | null;

  /** @throws InferenceError `bad_request` naming the parameter for an unusable `baseUrl` or option. */
  constructor(init: RemoteRunnerInit) {
    const { wire, options } = init;
    const bad = (param: string, why: string) => new InferenceError('bad_request', `${wire.label}: ${why}`, { details: { param } });
    let url: URL;
    try {
      url = new URL(init.baseUrl);
    } catch {
      throw bad('baseUrl', `baseUrl ${JSON.stringify(init.baseUrl)} is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('baseUrl', `baseUrl must be http(s), got ${url.protocol}`);
    if (url.username !== '' || url.password !== '') throw bad('baseUrl', 'put credentials in apiKey, not in baseUrl');
    this.#wire = wire;
    this.#credential = new CredentialSource(options.apiKey, `${wire.label} apiKey`);
    this.#credentialRequired = init.credentialRequired;
    this.#transport = new HttpTransport(url.origin, {
      timeouts: resolveTimeouts(options.timeouts),
      provider: wire.label,
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    });
    this.#prices = mergePriceTables(init.defaultPrices, options.pricing);
    this.#basePath = url.pathname.replace(/\/+$/, '') + url.search;
    this.#extraHeaders = { ...options.headers };
    this.#options = options;
    this.#capabilities = Object.freeze({ ...init.capabilities });
    this.#gate = new RateLimitGate(options.maxRateLimitWaitMs ?? DEFAULT_MAX_RATE_LIMIT_WAIT_MS, wire.label);
    this.#listeners = new Set();
    this.#closed = false;
    this.#rebuilding = null;
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    validateBatch(batch, { label: this.#wire.label, capabilities: this.#capabilities });
    const signal = options?.signal;
    if (this.#closed) throw this.#closedError(batch.requestId);
    if (signal?.aborted) throw abortError(signal, batch.requestId);
    const blocked = this.#gate.check(batch.requestId);
    if (blocked !== undefined) throw blocked;
    let stream: ChunkStream;
    try {
      try {
        stream = await this.#attempt(batch, signal);
      } catch (e) {
        if (!InferenceError.isInstance(e) || e.kind !== 'unauthorized' || !this.#credential.configured || e.status === undefined) throw e;
        // A rotated key or an expired token: re-read it, start a fresh pool, and try once more.
        await this.rebuildSession('remote_auth_failure');
        stream = await this.#attempt(batch, signal);
      }
    } catch (e) {
      throw InferenceError.isInstance(e) && e.requestId === undefined ? withRequestId(e, batch.requestId) : e;
    }
    return stream.handle;
  }

  async #attempt(batch: ExecuteBatch, signal: AbortSignal | undefined): Promise<ChunkStream> {
    const secret = await this.#credential.get();
    if (this.#closed) throw this.#closedError(batch.requestId);
    if (secret === undefined && this.#credentialRequired) {
      throw new InferenceError('unauthorized', `${this.#wire.label}: no apiKey configured`, {
        details: { code: 'missing_credential' },
        provider: this.#wire.label,
        requestId: batch.requestId,
      });
    }
    const req = this.#wire.buildRequest(batch, secret);
    for (const [k, v] of Object.entries(this.#extraHeaders)) if (!(k.toLowerCase() in req.headers)) req.headers[k.toLowerCase()] = v;
    req.idleByOutput = batch.stream;
    // Every error of this request passes through here on its way out: whatever the server put in
    // a body, an event or a header is cleaned of the key before anyone (a client, a log) sees it.
    const redact = secret === undefined ? identity : (t: string) => secret.redactFrom(t);
    const stream = new ChunkStream({ requestId: batch.requestId, signal, redact: (e) => redactError(e, redact) });
    const price = findPrice(this.#prices, batch.model);
    const ctx: ClassifyContext = { provider: this.#wire.label, model: batch.model };
    const sinkOptions = {
      provider: this.#wire.label,
      classify: (status: number, headers: ResponseHeaders, text: string) =>
        classifyHttpError(status, headers, this.#wire.parseError(text), text, ctx),
      onHeaders: this.#observeHeaders,
      ...(this.#options.maxEventBytes !== undefined ? { maxEventBytes: this.#options.maxEventBytes } : {}),
    };
    const emit = usageTrackingEmitter(stream, price);
    const sink = batch.stream
      ? new SseResponseSink(stream, this.#wire.createDecoder(batch, emit, ctx), sinkOptions)
      : new JsonResponseSink(stream, (json) => this.#wire.decodeUnary(json, batch, emit, ctx), sinkOptions);
    // The credential read may have taken a while: do not send a request nobody waits for.
    if (signal?.aborted) throw abortError(signal, batch.requestId);
    const call = this.#transport.request(req, sink);
    stream.attach(call);
    if (batch.stream) stream.watch(new OutputWatchdog(stream, this.#transport.timeouts, this.#wire.label));
    await stream.ready;
    return stream;
  }

  readonly #observeHeaders = (_status: number, headers: ResponseHeaders): void => {
    const snapshot = parseRateLimitHeaders(headers);
    if (snapshot === undefined) return;
    const observation = this.#gate.observe(snapshot);
    for (const listener of this.#listeners) {
      try {
        listener(observation);
      } catch {
        // A listener must not break the response it hears about.
      }
    }
  };

  /**
   * Subscribes to the provider's rate-limit headers, as `RateLimitObservation`s (resets longer
   * than `maxRateLimitWaitMs` are held back: such requests fail fast here instead). `supervise`
   * subscribes its limiter, so a supervised remote runner waits out an exhausted window instead
   * of collecting 429s.
   */
  observeRateLimits(listener: (observation: RateLimitObservation) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Re-reads the credential and replaces the connection pool (in-flight calls finish on the old
   * one). Concurrent calls (many requests hitting the same 401) share one rebuild. A cause meant
   * for a local runtime (`cuda_context_poisoned`) does nothing.
   */
  rebuildSession(cause: SessionRebuildCause): Promise<void> {
    if (!rebuildCauseApplies(cause, this.transportKind())) return Promise.resolve();
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.#rebuilding !== null) return this.#rebuilding;
    const run = async (): Promise<void> => {
      try {
        if (this.#credential.configured) await this.#credential.refresh();
        this.#gate.clear();
        if (!this.#closed) this.#transport.rebuild();
      } finally {
        this.#rebuilding = null;
      }
    };
    this.#rebuilding = run();
    return this.#rebuilding;
  }

  runtimeKind(): RuntimeKind {
    return this.#wire.runtime;
  }

  transportKind(): TransportKind {
    return { kind: 'remote', provider: this.#wire.provider };
  }

  capabilities(): RunnerCapabilities {
    return this.#capabilities;
  }

  /** A remote server never holds this process's GIL, whatever engine it runs. */
  gilPinned(): boolean {
    return false;
  }

  /**
   * The configured account limits, or none (`{}`): either way `supervise` builds a limiter, which
   * the provider's rate-limit headers then feed (`observeRateLimits`).
   */
  rateLimits(): RateLimits {
    return this.#options.rateLimits ?? NO_LIMITS;
  }

  estimateCostUsd(batch: ExecuteBatch): number | undefined {
    return estimateCost(findPrice(this.#prices, batch.model), batch);
  }

  /** Price used for `model`, or `undefined` when unknown. */
  priceFor(model: string): ModelPrice | undefined {
    return findPrice(this.#prices, model);
  }

  /**
   * Socket counts of the current pool (all zero but `connected`/`free` when idle), calls in
   * flight, and the bytes decompressors produced over the runner's life.
   */
  connectionStats(): HttpPoolStats & { activeCalls: number; inflatedBytes: number } {
    return { ...this.#transport.stats, activeCalls: this.#transport.activeCalls, inflatedBytes: this.#transport.inflatedBytes };
  }

  /** Final: open streams fail with `cancelled`, every later `execute` too; a second call resolves. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#transport.close();
  }

  /** `<provider> <origin><basePath>`, e.g. `openai https://api.openai.com/v1` (no secrets). */
  describe(): string {
    return `${this.#wire.label} ${this.#transport.origin}${this.#basePath}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      provider: this.#wire.label,
      origin: this.#transport.origin,
      basePath: this.#basePath,
      apiKey: this.#credential.toJSON(),
      headers: Object.keys(this.#extraHeaders),
    };
  }

  [inspect.custom](): string {
    return `RemoteRunner(${this.describe()}, apiKey: ${this.#credential.toJSON()})`;
  }

  #closedError(requestId?: string): InferenceError {
    return new InferenceError('cancelled', `${this.#wire.label} runner is closed`, {
      details: { reason: 'close' },
      provider: this.#wire.label,
      ...(requestId !== undefined ? { requestId } : {}),
    });
  }
}

function identity(text: string): string {
  return text;
}

/**
 * Wraps the stream's push: merges usage across chunks and, on the final chunk, attaches the
 * actual cost computed from it.
 */
function usageTrackingEmitter(stream: ChunkStream, price: ModelPrice | undefined): ChunkEmitter {
  let usage: TokenUsage | undefined;
  return (chunk) => {
    const u = chunk.usage;
    if (u !== undefined) {
      if (usage === undefined) usage = {};
      for (const k of EMPTY_USAGE_KEYS) if (u[k] !== undefined) usage[k] = u[k];
    }
    if (chunk.finishReason !== undefined) {
      const cost = costFromUsage(price, usage);
      if (cost !== undefined) chunk.costUsd = cost;
    }
    stream.push(chunk);
  };
}
