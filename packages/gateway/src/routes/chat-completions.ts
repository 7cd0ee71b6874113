import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  capabilitiesOf,
  InferenceError,
  Tokens,
  validateBatch,
  type Clock,
  type ExecuteBatch,
  type RunHandle,
  type TokenUsage,
} from '@inferkit/inference-core';
import { authenticate } from '../http/authenticate.js';
import { ClientGoneError } from '../http/client-gone-error.js';
import { GatewayError, invalidRequest } from '../http/gateway-error.js';
import { toGatewayError, withRequestId } from '../http/map-inference-error.js';
import { isJsonContentType, readJsonBody } from '../http/read-json-body.js';
import { sendError, sendJson } from '../http/response-writer.js';
import type { GatewayLogRecord } from '../log/gateway-logger.js';
import type { Redactor } from '../log/redactor.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { ModelEntry } from '../model-entry.js';
import { parseChatRequest, toExecuteBatch, type ChatRequest } from '../openai/parse-chat-request.js';
import { promptChars } from '../openai/prompt-chars.js';
import { toChatCompletion } from '../openai/to-openai-response.js';
import { toOpenAIParam } from '../openai/to-openai-param.js';
import { writeSse } from '../openai/write-sse.js';

/**
 * Names the runner that delivered a response's first chunk: the model itself, or for a routed
 * model the target (a leaf: an entry or a replica such as `local#1`). A resume does not change it.
 */
export const TARGET_HEADER = 'x-inferkit-target';

/** Visible ASCII as is; anything else (a name with non-ASCII or control characters) percent-encoded. */
function headerSafe(name: string): string {
  return /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name);
}

// Seconds a client should wait before retrying a model that is still loading its weights.
const LOADING_RETRY_SECONDS = 5;

/** One chat request in flight: for the metrics, the disconnect handling and `close()`. */
export interface RequestContext {
  readonly requestId: string;
  /** The model's name once known to exist (metric label; `''` before). */
  model: string;
  entry: ModelEntry | null;
  /** `entry.health.rebuilds()` when the model was resolved. */
  rebuildsAtStart: number;
  stream: boolean;
  readonly controller: AbortController;
  handle: RunHandle | null;
  clientGone: boolean;
}

/** What the chat route needs from its gateway. */
export interface ChatRoute {
  readonly models: ReadonlyMap<string, ModelEntry>;
  readonly metrics: GatewayMetrics;
  readonly clock: Clock;
  readonly redactor: Redactor;
  readonly apiKeys: readonly Buffer[];
  readonly maxBodyBytes: number;
  /** Never throws. */
  log(record: GatewayLogRecord): void;
  draining(): boolean;
  /** Requests in flight; the route adds and removes its own. */
  readonly active: Set<RequestContext>;
  /** Called after a request left `active`. */
  requestDone(): void;
}

/** A model name clients did not configure. */
export function unknownModel(name: string): GatewayError {
  return new GatewayError(404, 'invalid_request_error', 'model_not_found', `The model '${name}' does not exist`, { param: 'model' });
}

/**
 * `POST /v1/chat/completions`: checks (key, content type, body size and depth, fields, the
 * runner's capabilities, prompt size against the model's context), runs the request and answers
 * unary JSON or SSE. Answers every failure itself.
 */
export async function chatCompletions(route: ChatRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const startedAt = performance.now();
  const ctx: RequestContext = {
    requestId: `chatcmpl-${randomUUID().replace(/-/g, '')}`,
    model: '',
    entry: null,
    rebuildsAtStart: 0,
    stream: false,
    controller: new AbortController(),
    handle: null,
    clientGone: false,
  };
  res.setHeader('x-request-id', ctx.requestId);
  const onClose = (): void => {
    if (res.writableEnded) return;
    ctx.clientGone = true;
    ctx.controller.abort(new InferenceError('cancelled', 'client disconnected', { requestId: ctx.requestId }));
    ctx.handle?.cancel('client disconnected');
  };
  res.once('close', onClose);
  route.active.add(ctx);
  try {
    const authErr = authenticate(req, route.apiKeys);
    if (authErr !== null) {
      req.resume();
      throw authErr;
    }
    if (route.draining()) {
      req.resume();
      throw new GatewayError(503, 'api_error', 'shutting_down', 'the gateway is shutting down', { retryAfterSeconds: 1 });
    }
    // A browser sends text/plain (and form types) cross-site without asking first; JSON needs a
    // CORS preflight, which this server never grants.
    if (!isJsonContentType(req.headers['content-type'])) {
      req.resume();
      throw new GatewayError(415, 'invalid_request_error', 'unsupported_media_type', "send the request body as JSON with 'content-type: application/json'");
    }
    const parsed = parseChatRequest(await readJsonBody(req, route.maxBodyBytes));
    ctx.stream = parsed.stream;
    const entry = route.models.get(parsed.model);
    if (entry === undefined || entry.hidden) throw unknownModel(parsed.model);
    ctx.model = entry.name;
    ctx.entry = entry;
    ctx.rebuildsAtStart = entry.health.rebuilds();
    const state = entry.health.snapshot().state;
    if (state === 'loading') {
      throw new GatewayError(503, 'api_error', 'model_loading', `The model '${entry.name}' is still loading`, { retryAfterSeconds: LOADING_RETRY_SECONDS });
    }
    if (state === 'failed') {
      throw new GatewayError(503, 'api_error', 'model_unavailable', withRequestId(`The model '${entry.name}' failed to load`, ctx.requestId));
    }
    const batch = toExecuteBatch(parsed, ctx.requestId, entry.model.runnerModel ?? entry.name);
    checkBatch(batch, entry);
    await run(route, res, ctx, entry, batch, parsed, startedAt);
    entry.health.recordSuccess();
  } catch (err) {
    fail(route, res, ctx, err, startedAt);
  } finally {
    res.off('close', onClose);
    route.active.delete(ctx);
    route.requestDone();
  }
}

/**
 * Refuses, before the runner is called, what the runner could not serve: malformed fields and
 * features it does not declare (`validateBatch` with its capabilities; the refusal names the
 * request's field), and prompts too long for the model, which
 * the runner would otherwise tokenize before refusing (`ModelEntry.promptLimit`).
 */
function checkBatch(batch: ExecuteBatch, entry: ModelEntry): void {
  try {
    validateBatch(batch, { label: 'request', capabilities: capabilitiesOf(entry.model.runner) });
  } catch (e) {
    if (!InferenceError.isInstance(e) || e.kind !== 'bad_request') throw e;
    const param = typeof (e.details as { param?: unknown }).param === 'string' ? (e.details as { param: string }).param : undefined;
    const field = param === undefined ? undefined : toOpenAIParam(param);
    // Valid without the capabilities: the runner lacks one, which is not the request's error.
    let unsupported = false;
    try {
      validateBatch(batch);
      unsupported = true;
    } catch {
      // malformed either way
    }
    const why = param !== undefined && e.message.startsWith(`request: ${param} `) ? e.message.slice(`request: ${param} `.length) : e.message;
    const message = field === undefined ? why : `'${field}' ${why}${unsupported ? ` (model '${entry.name}')` : ''}`;
    throw invalidRequest(message, field, unsupported ? 'unsupported_parameter' : 'invalid_request');
  }
  const limit = entry.promptLimit();
  const chars = promptChars(batch);
  if (chars > limit.chars) {
    throw new GatewayError(
      413,
      'invalid_request_error',
      'context_length_exceeded',
      limit.contextTokens !== undefined
        ? `The prompt has ${chars} characters, more than model '${entry.name}' (context ${limit.contextTokens} tokens) can take`
        : `The prompt has ${chars} characters; model '${entry.name}' accepts at most ${limit.chars}`,
      { param: 'messages' },
    );
  }
}

async function run(route: ChatRoute, res: ServerResponse, ctx: RequestContext, entry: ModelEntry, batch: ExecuteBatch, parsed: ChatRequest, startedAt: number): Promise<void> {
  const series = route.metrics.forModel(entry.name);
  const queue = series.queueDepth;
  queue.inc();
  let handle: RunHandle;
  try {
    handle = await entry.model.runner.execute(batch, { signal: ctx.controller.signal });
  } finally {
    queue.dec();
  }
  ctx.handle = handle;
  // Known once execute() resolved: a router resolves when a target delivered the first chunk.
  res.setHeader(TARGET_HEADER, headerSafe(entry.targetOf(handle)));
  if (ctx.clientGone) {
    handle.cancel('client disconnected');
    throw new ClientGoneError();
  }
  const inFlight = series.inFlight;
  inFlight.inc();
  try {
    const endedWithError = (): Error => new InferenceError('server_error', 'the runner ended the response with finish reason error', { requestId: ctx.requestId });
    let usage: TokenUsage | undefined;
    if (parsed.stream) {
      const header = { id: ctx.requestId, created: Math.floor(Date.now() / 1000), model: ctx.model };
      ({ usage } = await writeSse(res, handle, header, {
        includeUsage: parsed.includeUsage,
        startedAt,
        series,
        isGone: () => ctx.clientGone,
        onRunnerError: endedWithError,
      }));
    } else {
      const tokens = await collect(handle, series, startedAt);
      if (tokens.finishReason === 'error') throw endedWithError();
      usage = tokens.usage;
      sendJson(res, 200, toChatCompletion(ctx.requestId, Math.floor(Date.now() / 1000), ctx.model, tokens));
    }
    if (usage !== undefined) {
      if (usage.inputTokens !== undefined) series.promptTokens.inc(usage.inputTokens);
      if (usage.outputTokens !== undefined) series.completionTokens.inc(usage.outputTokens);
    }
    finishMetrics(route, ctx, 200, null, startedAt);
  } finally {
    inFlight.dec();
  }
}

async function collect(handle: RunHandle, series: ReturnType<GatewayMetrics['forModel']>, startedAt: number): Promise<Tokens> {
  const tokens = new Tokens();
  let last = -1;
  for await (const chunk of handle) {
    if (chunk.textDelta.length > 0 || chunk.toolCallDelta !== undefined || chunk.reasoningDelta !== undefined) {
      const now = performance.now();
      if (last < 0) series.timeToFirstToken.observe((now - startedAt) / 1000);
      else series.interTokenLatency.observe((now - last) / 1000);
      last = now;
    }
    tokens.push(chunk);
  }
  return tokens;
}

function fail(route: ChatRoute, res: ServerResponse, ctx: RequestContext, err: unknown, startedAt: number): void {
  if (ctx.clientGone || err instanceof ClientGoneError) {
    route.metrics.clientDisconnects.labels({ model: ctx.model }).inc();
    finishMetrics(route, ctx, 499, 'cancelled', startedAt);
    if (!res.writableEnded) res.end();
    return;
  }
  ctx.entry?.health.recordFailure(err, ctx.rebuildsAtStart);
  ctx.entry?.learnFrom(err);
  const gErr = toGatewayError(err, { nowMs: route.clock.now(), requestId: ctx.requestId, redactor: route.redactor });
  finishMetrics(route, ctx, gErr.status, gErr.code, startedAt);
  // The gateway's own answers (loading, shutting down, validation) say all there is; what came
  // from a runner or a bug is logged with its full text, which the client did not get.
  if (gErr.status >= 500 && !(err instanceof GatewayError)) route.log(failureRecord(route.redactor, ctx, gErr, err));
  if (res.headersSent) {
    // Mid-stream: OpenAI sends an `error` event and closes without [DONE]; clients raise it.
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(gErr.toBody())}\n\n`);
    return;
  }
  sendError(res, gErr);
}

function failureRecord(redactor: Redactor, ctx: RequestContext, gErr: GatewayError, err: unknown): GatewayLogRecord {
  const record: GatewayLogRecord = {
    level: 'error',
    event: 'request_failed',
    requestId: ctx.requestId,
    model: ctx.model,
    status: gErr.status,
    code: gErr.code,
    message: '',
  };
  if (InferenceError.isInstance(err)) {
    record.message = redactor.redact(`${err.kind}: ${err.message}`);
    const details = describeDetails(err);
    if (details !== undefined) record.details = redactor.redact(details);
  } else if (err instanceof Error) {
    record.message = redactor.redact(`${err.name}: ${err.message}`);
    if (err.stack !== undefined) record.details = redactor.redact(err.stack);
  } else {
    record.message = redactor.redact(`non-error thrown: ${String(err)}`);
  }
  return record;
}

function describeDetails(err: InferenceError): string | undefined {
  const parts: Record<string, unknown> = {};
  if (Object.keys(err.details as object).length > 0) parts.details = err.details;
  if (err.status !== undefined) parts.status = err.status;
  if (err.provider !== undefined) parts.provider = err.provider;
  if (err.cause !== undefined) parts.cause = err.cause instanceof Error ? `${err.cause.name}: ${err.cause.message}` : String(err.cause);
  if (Object.keys(parts).length === 0) return undefined;
  try {
    return JSON.stringify(parts);
  } catch {
    return '(details cannot be serialized)';
  }
}

function finishMetrics(route: ChatRoute, ctx: RequestContext, status: number, errorCode: string | null, startedAt: number): void {
  const m = route.metrics;
  const series = m.forModel(ctx.model);
  if (status === 200) (ctx.stream ? series.okStream : series.okUnary).inc();
  else m.requests.labels({ model: ctx.model, stream: ctx.stream ? 'true' : 'false', status: String(status) }).inc();
  if (errorCode !== null) m.errors.labels({ model: ctx.model, kind: errorCode }).inc();
  series.requestDuration.observe((performance.now() - startedAt) / 1000);
}
