import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceError, realClock, Tokens, type Clock, type RunHandle, type TokenUsage } from '@inferkit/inference-core';
import {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type GatewayModel,
  type GatewayOptions,
} from './gateway-options.js';
import { GatewayError } from './http/gateway-error.js';
import { toGatewayError } from './http/map-inference-error.js';
import { ClientGoneError, readJsonBody } from './http/read-json-body.js';
import { drained, sendError, sendJson } from './http/response-writer.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics/registry.js';
import { parseChatRequest, toExecuteBatch, type ChatRequest } from './openai/parse-chat-request.js';
import {
  chunkEvent,
  DONE_EVENT,
  toChatCompletion,
  toOpenAIFinishReason,
  toOpenAIToolCallDelta,
  toOpenAIUsage,
  usageEvent,
  type ChunkHeader,
} from './openai/to-openai-response.js';

const LOADING = 0;
const READY = 1;
const FAILED = 2;

// Seconds a client should wait before retrying a model that is still loading its weights.
const LOADING_RETRY_SECONDS = 5;

interface ModelEntry {
  name: string;
  model: GatewayModel;
  state: number;
  failure: string;
  created: number;
}

/** Where a request is, for the metrics and the disconnect handling. */
interface RequestContext {
  requestId: string | undefined;
  model: string;
  stream: boolean;
  controller: AbortController;
  handle: RunHandle | null;
  clientGone: boolean;
}

function isClientGone(err: unknown, ctx: RequestContext): boolean {
  return ctx.clientGone || err instanceof ClientGoneError;
}

/**
 * An OpenAI-compatible HTTP front for inferkit runners. `handle` is a plain node:http request
 * listener, so the gateway can also be mounted inside an application's own server; `listen` runs
 * it on its own.
 *
 * Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{id}`, `GET /healthz`,
 * `GET /metrics`.
 */
export class Gateway {
  readonly metrics: GatewayMetrics;

  private readonly models: Map<string, ModelEntry>;
  private readonly apiKeys: Buffer[];
  private readonly maxBodyBytes: number;
  private readonly shutdownGraceMs: number;
  private readonly clock: Clock;
  private readonly onServerError: GatewayOptions['onServerError'];
  private readonly active: Set<RequestContext>;
  private server: Server | null;
  private draining: boolean;
  // close() waiting for the last in-flight request.
  private idleWaiters: Array<() => void>;

  constructor(options: GatewayOptions) {
    if (options === null || typeof options !== 'object' || options.models === null || typeof options.models !== 'object') {
      throw new TypeError('createGateway: options.models is required');
    }
    const names = Object.keys(options.models);
    if (names.length === 0) throw new TypeError('createGateway: options.models is empty');
    this.models = new Map();
    const created = Math.floor(Date.now() / 1000);
    for (const name of names) {
      const model = options.models[name]!;
      if (model === undefined || model === null || typeof model.runner?.execute !== 'function') {
        throw new TypeError(`createGateway: models['${name}'].runner must be a ModelRunner`);
      }
      const entry: ModelEntry = { name, model, state: model.ready === undefined ? READY : LOADING, failure: '', created };
      if (model.ready !== undefined) {
        model.ready.then(
          () => {
            entry.state = READY;
          },
          (e: unknown) => {
            entry.state = FAILED;
            entry.failure = e instanceof Error ? e.message : String(e);
          },
        );
      }
      this.models.set(name, entry);
    }
    this.apiKeys = (options.apiKeys ?? []).map((k) => {
      if (typeof k !== 'string' || k.length === 0) throw new TypeError('createGateway: apiKeys must be non-empty strings');
      return Buffer.from(k);
    });
    const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (!Number.isInteger(max) || max <= 0) throw new TypeError('createGateway: maxBodyBytes must be a positive integer');
    this.maxBodyBytes = max;
    this.shutdownGraceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    this.clock = options.clock ?? realClock;
    this.onServerError = options.onServerError;
    this.metrics = new GatewayMetrics();
    this.active = new Set();
    this.server = null;
    this.draining = false;
    this.idleWaiters = [];
    this.handle = this.handle.bind(this);
  }

  /** The node:http request listener. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (path === '/v1/chat/completions') {
      if (method !== 'POST') return this.methodNotAllowed(req, res, 'POST');
      // chatCompletions answers every failure itself; this only guards against a bug there
      // turning into an unhandled rejection that would take the whole process down.
      this.chatCompletions(req, res).catch(() => res.destroy());
      return;
    }
    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') return this.methodNotAllowed(req, res, 'GET');
      return this.health(res);
    }
    if (path === '/metrics') {
      if (method !== 'GET') return this.methodNotAllowed(req, res, 'GET');
      const text = this.metrics.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (method !== 'GET') return this.methodNotAllowed(req, res, 'GET');
      req.resume();
      const authErr = this.authenticate(req);
      if (authErr !== null) return sendError(res, authErr);
      if (path === '/v1/models') {
        sendJson(res, 200, { object: 'list', data: [...this.models.values()].map((e) => this.modelObject(e)) });
        return;
      }
      let id: string;
      try {
        id = decodeURIComponent(path.slice('/v1/models/'.length));
      } catch {
        return sendError(res, new GatewayError(400, 'invalid_request_error', 'invalid_url', 'the model id in the URL is not valid percent-encoding'));
      }
      const entry = this.models.get(id);
      if (entry === undefined) return sendError(res, this.unknownModel(id));
      sendJson(res, 200, this.modelObject(entry));
      return;
    }
    req.resume();
    sendError(res, new GatewayError(404, 'invalid_request_error', 'unknown_url', `Invalid URL (${method} ${path})`));
  }

  /**
   * Starts a server on `host:port` (default 127.0.0.1, port 0 = any free port). `backlog` is the
   * kernel's queue of connections not yet accepted (default 4096, capped by `somaxconn`): Node's
   * 511 drops SYNs when a thousand clients connect at once, and each drop costs the client a
   * retransmit of a second or more.
   */
  listen(options: { port?: number; host?: string; backlog?: number } = {}): Promise<AddressInfo> {
    if (this.server !== null) return Promise.reject(new Error('Gateway.listen: already listening'));
    const server = createServer({ keepAliveTimeout: 65_000 }, this.handle);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1', backlog: options.backlog ?? 4096 }, () => {
        server.off('error', reject);
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /**
   * Stops accepting requests (new ones get 503), lets in-flight ones finish for up to
   * `shutdownGraceMs`, cancels the rest, and closes the server. Runners are not closed: they
   * belong to whoever created them.
   */
  async close(): Promise<void> {
    this.draining = true;
    const server = this.server;
    const closed = server === null ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
    server?.closeIdleConnections();
    if (this.active.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(resolve, this.shutdownGraceMs);
      });
      clearTimeout(timer);
      for (const ctx of this.active) {
        ctx.controller.abort(new InferenceError('cancelled', 'gateway shutting down', { requestId: ctx.requestId }));
        ctx.handle?.cancel('gateway shutting down');
      }
    }
    server?.closeAllConnections();
    await closed;
    this.server = null;
  }

  // ------------------------------------------------------------------------------------------

  private methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
    req.resume();
    const err = new GatewayError(405, 'invalid_request_error', 'method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
    res.setHeader('allow', allow);
    sendError(res, err);
  }

  private health(res: ServerResponse): void {
    const models: Record<string, string> = {};
    let allReady = true;
    for (const e of this.models.values()) {
      models[e.name] = e.state === READY ? 'ready' : e.state === LOADING ? 'loading' : 'failed';
      if (e.state !== READY) allReady = false;
    }
    const status = this.draining ? 'draining' : allReady ? 'ok' : 'degraded';
    sendJson(res, status === 'ok' ? 200 : 503, { status, models });
  }

  private modelObject(e: ModelEntry): { id: string; object: 'model'; created: number; owned_by: string } {
    return { id: e.name, object: 'model', created: e.created, owned_by: e.model.ownedBy ?? 'inferkit' };
  }

  private unknownModel(name: string): GatewayError {
    return new GatewayError(404, 'invalid_request_error', 'model_not_found', `The model '${name}' does not exist`, { param: 'model' });
  }

  private authenticate(req: IncomingMessage): GatewayError | null {
    if (this.apiKeys.length === 0) return null;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(.+)$/i.exec(header.trim()) : null;
    if (m !== null) {
      const given = Buffer.from(m[1]!);
      for (const key of this.apiKeys) {
        if (key.length === given.length && timingSafeEqual(key, given)) return null;
      }
    }
    return new GatewayError(
      401,
      'invalid_request_error',
      'invalid_api_key',
      m === null ? 'Missing bearer token in the Authorization header' : 'Incorrect API key provided',
    );
  }

  private fail(res: ServerResponse, ctx: RequestContext, err: unknown, startedAt: number): void {
    if (isClientGone(err, ctx)) {
      this.metrics.clientDisconnects.labels({ model: ctx.model }).inc();
      this.finishMetrics(ctx, 499, 'cancelled', startedAt);
      if (!res.writableEnded) res.end();
      return;
    }
    const gErr = toGatewayError(err, this.clock.now());
    this.finishMetrics(ctx, gErr.status, gErr.code, startedAt);
    if (gErr.status >= 500 && this.onServerError !== undefined) {
      try {
        this.onServerError({ requestId: ctx.requestId, model: ctx.model, status: gErr.status, code: gErr.code, message: gErr.message });
      } catch {
        // A throwing logger must not take the response down with it.
      }
    }
    if (res.headersSent) {
      // Mid-stream: OpenAI sends an `error` event and closes without [DONE]; clients raise it.
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(gErr.toBody())}\n\n`);
      return;
    }
    sendError(res, gErr);
  }

  private finishMetrics(ctx: RequestContext, status: number, errorCode: string | null, startedAt: number): void {
    const m = this.metrics;
    const series = m.forModel(ctx.model);
    if (status === 200) (ctx.stream ? series.okStream : series.okUnary).inc();
    else m.requests.labels({ model: ctx.model, stream: ctx.stream ? 'true' : 'false', status: String(status) }).inc();
    if (errorCode !== null) m.errors.labels({ model: ctx.model, kind: errorCode }).inc();
    series.requestDuration.observe((performance.now() - startedAt) / 1000);
  }

  private countTokens(model: string, usage: TokenUsage | undefined): void {
    if (usage === undefined) return;
    const series = this.metrics.forModel(model);
    if (usage.inputTokens !== undefined) series.promptTokens.inc(usage.inputTokens);
    if (usage.outputTokens !== undefined) series.completionTokens.inc(usage.outputTokens);
  }

  private async chatCompletions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const ctx: RequestContext = {
      requestId: undefined,
      // Metric label until the model is known to exist: unknown names must not mint series.
      model: '',
      stream: false,
      controller: new AbortController(),
      handle: null,
      clientGone: false,
    };
    const onClose = (): void => {
      if (res.writableEnded) return;
      ctx.clientGone = true;
      ctx.controller.abort(new InferenceError('cancelled', 'client disconnected', { requestId: ctx.requestId }));
      ctx.handle?.cancel('client disconnected');
    };
    res.once('close', onClose);
    this.active.add(ctx);
    try {
      const authErr = this.authenticate(req);
      if (authErr !== null) {
        req.resume();
        throw authErr;
      }
      if (this.draining) {
        req.resume();
        throw new GatewayError(503, 'api_error', 'shutting_down', 'the gateway is shutting down', { retryAfterSeconds: 1 });
      }
      const body = await readJsonBody(req, this.maxBodyBytes);
      const parsed = parseChatRequest(body);
      ctx.stream = parsed.stream;
      const entry = this.models.get(parsed.model);
      if (entry === undefined) throw this.unknownModel(parsed.model);
      ctx.model = entry.name;
      if (entry.state === LOADING) {
        throw new GatewayError(503, 'api_error', 'model_loading', `The model '${entry.name}' is still loading`, {
          retryAfterSeconds: LOADING_RETRY_SECONDS,
        });
      }
      if (entry.state === FAILED) {
        throw new GatewayError(503, 'api_error', 'model_unavailable', `The model '${entry.name}' failed to load: ${entry.failure}`);
      }
      ctx.requestId = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
      await this.run(res, ctx, entry, parsed, startedAt);
    } catch (err) {
      this.fail(res, ctx, err, startedAt);
    } finally {
      res.off('close', onClose);
      this.active.delete(ctx);
      if (this.active.size === 0 && this.idleWaiters.length > 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private async run(res: ServerResponse, ctx: RequestContext, entry: ModelEntry, parsed: ChatRequest, startedAt: number): Promise<void> {
    const series = this.metrics.forModel(entry.name);
    const batch = toExecuteBatch(parsed, ctx.requestId!, entry.model.runnerModel ?? entry.name);
    const queue = series.queueDepth;
    queue.inc();
    let handle: RunHandle;
    try {
      handle = await entry.model.runner.execute(batch, { signal: ctx.controller.signal });
    } finally {
      queue.dec();
    }
    ctx.handle = handle;
    if (ctx.clientGone) {
      handle.cancel('client disconnected');
      throw new ClientGoneError();
    }
    const inFlight = series.inFlight;
    inFlight.inc();
    try {
      if (parsed.stream) await this.stream(res, ctx, handle, parsed.includeUsage, startedAt);
      else await this.unary(res, ctx, handle, startedAt);
    } finally {
      inFlight.dec();
    }
  }

  private async unary(res: ServerResponse, ctx: RequestContext, handle: RunHandle, startedAt: number): Promise<void> {
    const { timeToFirstToken: ttft, interTokenLatency: itl } = this.metrics.forModel(ctx.model);
    const tokens = new Tokens();
    let last = -1;
    for await (const chunk of handle) {
      if (chunk.textDelta.length > 0 || chunk.toolCallDelta !== undefined || chunk.reasoningDelta !== undefined) {
        const now = performance.now();
        if (last < 0) ttft.observe((now - startedAt) / 1000);
        else itl.observe((now - last) / 1000);
        last = now;
      }
      tokens.push(chunk);
    }
    if (tokens.finishReason === 'error') {
      throw new InferenceError('server_error', 'the runner ended the response with an error', { requestId: ctx.requestId });
    }
    this.countTokens(ctx.model, tokens.usage);
    const created = Math.floor(Date.now() / 1000);
    sendJson(res, 200, toChatCompletion(ctx.requestId!, created, ctx.model, tokens));
    this.finishMetrics(ctx, 200, null, startedAt);
  }

  private async stream(res: ServerResponse, ctx: RequestContext, handle: RunHandle, includeUsage: boolean, startedAt: number): Promise<void> {
    const { timeToFirstToken: ttft, interTokenLatency: itl } = this.metrics.forModel(ctx.model);
    const header: ChunkHeader = { id: ctx.requestId!, created: Math.floor(Date.now() / 1000), model: ctx.model };
    const usage: TokenUsage = {};
    let sawUsage = false;
    let roleSent = false;
    let finished = false;
    let last = -1;
    // Headers go out with the first event, so an error before any output (a refused upstream
    // call, say) still gets its proper HTTP status instead of an in-stream error event.
    const write = async (event: string): Promise<void> => {
      if (!res.headersSent) {
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        });
      }
      if (!res.write(event)) await drained(res);
      if (ctx.clientGone) throw new ClientGoneError();
    };
    for await (const chunk of handle) {
      const u = chunk.usage;
      if (u !== undefined) {
        sawUsage = true;
        if (u.inputTokens !== undefined) usage.inputTokens = u.inputTokens;
        if (u.outputTokens !== undefined) usage.outputTokens = u.outputTokens;
        if (u.reasoningTokens !== undefined) usage.reasoningTokens = u.reasoningTokens;
        if (u.cachedTokens !== undefined) usage.cachedTokens = u.cachedTokens;
      }
      if (chunk.finishReason === 'error') {
        throw new InferenceError('server_error', 'the runner ended the response with an error', { requestId: ctx.requestId });
      }
      const hasContent = chunk.textDelta.length > 0 || chunk.toolCallDelta !== undefined || chunk.reasoningDelta !== undefined;
      if (!hasContent && chunk.finishReason === undefined) continue;
      const delta: { role?: 'assistant'; content?: string | null; tool_calls?: ReturnType<typeof toOpenAIToolCallDelta>[]; reasoning_content?: string } = {};
      if (!roleSent) {
        delta.role = 'assistant';
        roleSent = true;
      }
      if (chunk.textDelta.length > 0) delta.content = chunk.textDelta;
      else if (delta.role !== undefined) delta.content = chunk.toolCallDelta !== undefined ? null : '';
      if (chunk.toolCallDelta !== undefined) delta.tool_calls = [toOpenAIToolCallDelta(chunk.toolCallDelta)];
      if (chunk.reasoningDelta !== undefined) delta.reasoning_content = chunk.reasoningDelta;
      if (hasContent) {
        const now = performance.now();
        if (last < 0) ttft.observe((now - startedAt) / 1000);
        else itl.observe((now - last) / 1000);
        last = now;
      }
      const finish = chunk.finishReason !== undefined ? toOpenAIFinishReason(chunk.finishReason) : null;
      if (finish !== null) finished = true;
      await write(chunkEvent(header, delta, finish));
    }
    if (!finished) {
      await write(chunkEvent(header, roleSent ? {} : { role: 'assistant', content: '' }, 'stop'));
    }
    if (sawUsage) this.countTokens(ctx.model, usage);
    if (includeUsage) await write(usageEvent(header, toOpenAIUsage(sawUsage ? usage : undefined)));
    res.end(DONE_EVENT);
    this.finishMetrics(ctx, 200, null, startedAt);
  }
}

/** Creates a gateway; see `Gateway`. */
export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}
