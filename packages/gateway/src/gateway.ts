import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InferenceError, realClock, SPAN_STATUS_ERROR, type Clock, type TraceSpan } from '@inferkit/inference-core';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_SHUTDOWN_GRACE_MS, type GatewayOptions } from './gateway-options.js';
import { GatewayError } from './http/gateway-error.js';
import { HostAllowlist, isLoopbackAddress } from './http/host-allowlist.js';
import { sendError } from './http/response-writer.js';
import { stderrJsonLogger, type GatewayLogger, type GatewayLogRecord } from './log/gateway-logger.js';
import { Redactor } from './log/redactor.js';
import { GatewayMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics/gateway-metrics.js';
import type { RoutedModel } from './metrics/route-metrics.js';
import { ModelEntry } from './model-entry.js';
import { chatCompletions, type ChatRoute, type RequestContext } from './routes/chat-completions.js';
import { health } from './routes/health.js';
import { listModels } from './routes/models.js';
import type { GatewayTracing } from './telemetry/gateway-tracing.js';

/** `SpanKind.SERVER` of `@opentelemetry/api`. */
const SPAN_KIND_SERVER = 1;

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
  private readonly redactor: Redactor;
  private readonly active: Set<RequestContext>;
  // What the chat route reads and calls back.
  private readonly chat: ChatRoute;
  private readonly shutdownGraceMs: number;
  private readonly logger: GatewayLogger;
  private readonly allowedHosts: string[] | undefined;
  private readonly tracing: GatewayTracing | null;
  // Checked on every request when set: from `allowedHosts`, or the loopback default of listen().
  private hosts: HostAllowlist | null;
  private server: Server | null;
  private isDraining: boolean;
  // close() waiting for the last in-flight request.
  private idleWaiters: Array<() => void>;

  constructor(options: GatewayOptions) {
    if (options === null || typeof options !== 'object' || options.models === null || typeof options.models !== 'object') {
      throw new TypeError('createGateway: options.models is required');
    }
    const names = Object.keys(options.models);
    if (names.length === 0) throw new TypeError('createGateway: options.models is empty');
    const max = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (!Number.isSafeInteger(max) || max <= 0) throw new TypeError('createGateway: maxBodyBytes must be a positive integer');
    this.apiKeys = (options.apiKeys ?? []).map((k) => {
      if (typeof k !== 'string' || k.length === 0) throw new TypeError('createGateway: apiKeys must be non-empty strings');
      return Buffer.from(k);
    });
    if (options.allowedHosts !== undefined && (!Array.isArray(options.allowedHosts) || options.allowedHosts.some((h) => typeof h !== 'string' || h.length === 0))) {
      throw new TypeError('createGateway: allowedHosts must be an array of non-empty strings');
    }
    this.allowedHosts = options.allowedHosts;
    this.hosts = options.allowedHosts !== undefined ? new HostAllowlist(options.allowedHosts) : null;
    this.logger = options.logger ?? stderrJsonLogger;
    this.redactor = Redactor.fromEnvironment(process.env, options.apiKeys ?? []);
    this.shutdownGraceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    const clock: Clock = options.clock ?? realClock;
    this.metrics = new GatewayMetrics(() => this.routedModels());
    this.active = new Set();
    this.server = null;
    this.isDraining = false;
    this.idleWaiters = [];
    this.models = new Map();
    const created = Math.floor(Date.now() / 1000);
    for (const name of names) {
      const model = options.models[name]!;
      if (model === undefined || model === null || typeof model.runner?.execute !== 'function') {
        throw new TypeError(`createGateway: models['${name}'].runner must be a ModelRunner`);
      }
      for (const key of ['contextTokens', 'maxPromptChars'] as const) {
        const v = model[key];
        if (v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw new TypeError(`createGateway: models['${name}'].${key} must be a positive integer`);
      }
      const entry = new ModelEntry(name, model, created, max);
      this.watch(entry);
      this.models.set(name, entry);
    }
    this.chat = {
      models: this.models,
      metrics: this.metrics,
      clock,
      redactor: this.redactor,
      apiKeys: this.apiKeys,
      maxBodyBytes: max,
      active: this.active,
      log: (record) => this.log(record),
      draining: () => this.isDraining,
      requestDone: () => {
        if (this.active.size === 0 && this.idleWaiters.length > 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      },
    };
    this.tracing = options.tracing ?? null;
    this.handle = this.handle.bind(this);
  }

  /** The node:http request listener. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.hosts !== null && !this.hosts.allows(req.headers.host)) {
      req.resume();
      const err = new GatewayError(403, 'permission_error', 'host_not_allowed', 'this Host is not served here; add it to allowedHosts (--allowed-hosts) to allow it');
      return sendError(res, err);
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    if (path === '/v1/chat/completions') {
      if (method !== 'POST') return this.methodNotAllowed(req, res, 'POST');
      if (this.tracing !== null) return this.tracedChat(this.tracing, req, res);
      // chatCompletions answers every failure itself; this only guards against a bug there
      // turning into an unhandled rejection that would take the whole process down.
      chatCompletions(this.chat, req, res).catch(() => res.destroy());
      return;
    }
    if (path === '/healthz') {
      if (method !== 'GET' && method !== 'HEAD') return this.methodNotAllowed(req, res, 'GET');
      req.resume();
      return health(res, this.models, this.isDraining);
    }
    if (path === '/metrics') {
      if (method !== 'GET') return this.methodNotAllowed(req, res, 'GET');
      req.resume();
      this.metrics.render().then(
        (text) => {
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        },
        (e: unknown) => {
          // A collector's bug (ours or prom-client's) costs the scrape, not the process.
          this.log({ level: 'error', event: 'request_failed', status: 500, code: 'internal', message: this.redactor.redact(`metrics: ${e instanceof Error ? e.message : String(e)}`) });
          sendError(res, new GatewayError(500, 'api_error', 'internal', 'the metrics could not be rendered; details are in the gateway log'));
        },
      );
      return;
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (method !== 'GET') return this.methodNotAllowed(req, res, 'GET');
      return listModels(req, res, path, this.models, this.apiKeys);
    }
    req.resume();
    sendError(res, new GatewayError(404, 'invalid_request_error', 'unknown_url', `Invalid URL (${method} ${path})`));
  }

  /**
   * A chat request under a SERVER span that is active while it runs, so `supervise`'s spans (and
   * the runner's HTTP client spans, if instrumented) are its children. A tracer that throws costs
   * the request nothing.
   */
  private tracedChat(tracing: GatewayTracing, req: IncomingMessage, res: ServerResponse): void {
    let span: TraceSpan;
    try {
      span = tracing.tracer.startSpan('POST /v1/chat/completions', {
        kind: SPAN_KIND_SERVER,
        attributes: { 'http.request.method': 'POST', 'url.path': '/v1/chat/completions', 'gen_ai.operation.name': 'chat' },
      });
    } catch {
      chatCompletions(this.chat, req, res).catch(() => res.destroy());
      return;
    }
    res.once('close', () => {
      try {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500 || !res.writableFinished) span.setStatus({ code: SPAN_STATUS_ERROR });
        span.end();
      } catch {
        // Tracing must not break requests.
      }
    });
    tracing.withSpan(span, () => chatCompletions(this.chat, req, res).catch(() => res.destroy()));
  }

  /**
   * Starts a server on `host:port` (default 127.0.0.1, port 0 = any free port). `backlog` is the
   * kernel's queue of connections not yet accepted (default 4096, capped by `somaxconn`): Node's
   * 511 drops SYNs when a thousand clients connect at once, and each drop costs the client a
   * retransmit of a second or more. On a loopback address without `apiKeys` (and no
   * `allowedHosts`), only loopback `Host` values are served.
   */
  listen(options: { port?: number; host?: string; backlog?: number } = {}): Promise<AddressInfo> {
    if (this.server !== null) return Promise.reject(new Error('Gateway.listen: already listening'));
    const server = createServer({ keepAliveTimeout: 65_000 }, this.handle);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1', backlog: options.backlog ?? 4096 }, () => {
        server.off('error', reject);
        const address = server.address() as AddressInfo;
        if (this.allowedHosts === undefined && this.apiKeys.length === 0 && isLoopbackAddress(address.address)) {
          this.hosts = new HostAllowlist();
        }
        resolve(address);
      });
    });
  }

  /**
   * Stops accepting requests (new ones get 503), lets in-flight ones finish for up to
   * `shutdownGraceMs`, cancels the rest, and closes the server. Runners are not closed: they
   * belong to whoever created them.
   */
  async close(): Promise<void> {
    this.isDraining = true;
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

  /** Hands a record to the logger; a throwing logger must not take a response down. */
  private log(record: GatewayLogRecord): void {
    try {
      this.logger(record);
    } catch {
      // ignored: see GatewayLogger
    }
  }

  /** Models served by a `Router` (config routes, replica groups, or the application's own). */
  private *routedModels(): Iterable<RoutedModel> {
    for (const e of this.models.values()) {
      const r = e.router;
      if (r !== undefined) yield { model: e.name, stats: () => r.stats(), waiting: r.waiting };
    }
  }

  /** Follows a model's weight loading and logs its health changes. */
  private watch(entry: ModelEntry): void {
    const { name, health } = entry;
    health.subscribe((now, before) => {
      if (now.state === 'down' || (now.state === 'rebuilding' && before.state !== 'down')) {
        this.log({ level: 'warn', event: 'model_down', model: name, message: `${name}: ${now.state}${now.reason !== undefined ? ` (${now.reason})` : ''}` });
      } else if (now.state === 'ready' && (before.state === 'down' || before.state === 'rebuilding')) {
        this.log({ level: 'info', event: 'model_up', model: name, message: `${name}: ready again` });
      }
    });
    const ready = entry.model.ready;
    if (ready === undefined) return;
    health.loading();
    ready.then(
      () => health.loaded(),
      (e: unknown) => {
        health.loadFailed();
        const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        this.log({ level: 'error', event: 'model_load_failed', model: name, message: this.redactor.redact(text) });
      },
    );
  }

  private methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): void {
    req.resume();
    const err = new GatewayError(405, 'invalid_request_error', 'method_not_allowed', `${req.method} is not allowed here; use ${allow}`);
    res.setHeader('allow', allow);
    sendError(res, err);
  }
}

/** Creates a gateway; see `Gateway`. */
export function createGateway(options: GatewayOptions): Gateway {
  return new Gateway(options);
}
