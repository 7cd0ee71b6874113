import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib';
import { InferenceError } from '@inferkit/inference-core';
import { Pool, type Dispatcher } from 'undici';
import { classifyUndiciError } from './classify-undici-error.js';
import { header, type ResponseHeaders } from './response-headers.js';
import type { HttpTimeouts } from './timeouts.js';

/** One request as the providers describe it; the transport owns the origin. */
export interface HttpRequest {
  method: 'POST' | 'GET';
  /** Path and query, starting with `/`. */
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  /**
   * The caller times silence by output (an `OutputWatchdog` on a stream): undici's body timeout
   * is off for this request, so keep-alives between silent stretches cannot reset it forever and
   * a model thinking before its first output is not cut at `idleMs`.
   */
  idleByOutput?: boolean;
}

/**
 * Receives one response. `onStart`/`onData`/`onEnd` may throw an `InferenceError` to fail
 * the call (the socket is torn down). `onError` is terminal and called at most once; after it
 * nothing else is called.
 */
export interface ResponseSink {
  onStart(status: number, headers: ResponseHeaders): void;
  /**
   * Body bytes, already decompressed. Returns `false` once the sink has all it will keep (an
   * error body past its bound): the call then stops reading and decompressing, tears the socket
   * down and calls `onEnd()` with what was kept.
   */
  onData(chunk: Buffer): boolean;
  onEnd(): void;
  onError(error: InferenceError): void;
}

/** Connection counts of the pool (undici's `PoolStats`). */
export interface HttpPoolStats {
  connected: number;
  free: number;
  pending: number;
  queued: number;
  running: number;
  size: number;
}

export interface HttpTransportOptions {
  timeouts: HttpTimeouts;
  /** Provider label put on errors. */
  provider: string;
  /** Most sockets to the origin (undici `connections`); `undefined` = unlimited. */
  maxConnections?: number;
  /** How long an idle keep-alive socket is kept (ms). */
  keepAliveMs?: number;
}

/**
 * Past this much decompressed output, a body may not inflate more than `MAX_INFLATE_RATIO` times
 * the compressed bytes consumed. A gzip bomb of zeros inflates 1028:1 (brotli: 633,102:1); a
 * synthetic streamed completion (20,000 OpenAI chunks of varied words, compressed whole, so the
 * repeated JSON of every event compresses as well as it can) measured 133:1 with gzip and 97:1
 * with brotli. A body that repeats itself verbatim does go past it: the benchmark server's stream,
 * which cycles through 100 fixed events, reaches 13,464:1 under brotli (130:1 under gzip).
 */
export const INFLATE_RATIO_FLOOR_BYTES = 1024 * 1024;
export const MAX_INFLATE_RATIO = 500;

/**
 * The only module that talks to undici. One keep-alive `Pool` per origin, driven through
 * `dispatch` with a handler object. bench/http/dispatch.mjs reads the same 53 MB stream
 * through `dispatch`, `request` (for-await over the body) and `stream`: `dispatch` and
 * `request` cost the same within run-to-run noise, `stream` a little more. `dispatch` wins on
 * fit: its `pause()`/`resume()` map straight onto the consumer queue's watermarks, every
 * failure arrives in one callback with undici's error code, and no Readable sits in between.
 */
export class HttpTransport {
  readonly origin: string;
  readonly timeouts: HttpTimeouts;
  readonly provider: string;
  private readonly poolOptions: Pool.Options;
  private pool: Pool;
  private readonly calls: Set<HttpCall>;
  /** Bytes produced by decompressors over the transport's life. */
  inflatedBytes: number;

  constructor(origin: string, options: HttpTransportOptions) {
    this.origin = origin;
    this.timeouts = options.timeouts;
    this.provider = options.provider;
    this.poolOptions = {
      connect: { timeout: options.timeouts.connectMs },
      // Explicit, so undici's 300 s defaults never cut a long stream: first byte and idle are ours.
      headersTimeout: options.timeouts.firstByteMs,
      bodyTimeout: options.timeouts.idleMs,
      keepAliveTimeout: options.keepAliveMs ?? 30_000,
      ...(options.maxConnections !== undefined ? { connections: options.maxConnections } : {}),
    };
    this.pool = new Pool(origin, this.poolOptions);
    this.calls = new Set();
    this.inflatedBytes = 0;
  }

  get stats(): HttpPoolStats {
    const s = this.pool.stats;
    return { connected: s.connected, free: s.free, pending: s.pending, queued: s.queued, running: s.running, size: s.size };
  }

  /** Calls in flight. */
  get activeCalls(): number {
    return this.calls.size;
  }

  /** Starts a request; the sink hears about everything that follows. */
  request(req: HttpRequest, sink: ResponseSink): HttpCall {
    const call = new HttpCall(this, sink);
    this.calls.add(call);
    call.start(this.pool, req);
    return call;
  }

  /** @internal */
  forget(call: HttpCall): void {
    this.calls.delete(call);
  }

  /**
   * Swaps in a fresh pool (after a credential or config change). Calls in flight finish on the
   * old pool, which closes once they are done.
   */
  rebuild(): void {
    const old = this.pool;
    this.pool = new Pool(this.origin, this.poolOptions);
    old.close().catch(() => undefined);
  }

  /** Aborts calls in flight and destroys every socket. */
  async close(): Promise<void> {
    for (const call of [...this.calls]) call.abort(new InferenceError('cancelled', 'runner closed', { provider: this.provider }));
    await this.pool.destroy();
  }
}

/** One request in flight. Implements undici's dispatch handler directly (no wrapper objects). */
export class HttpCall implements Dispatcher.DispatchHandler {
  private readonly transport: HttpTransport;
  private readonly sink: ResponseSink;
  private controller: Dispatcher.DispatchController | null;
  private done: boolean;
  private paused: boolean;
  /** Set when abort() came before undici handed over its controller. */
  private pendingAbort: Error | null;
  private inflater: Transform | null;
  /** `deflate` body whose flavour (zlib or raw) is read from its first bytes. */
  private sniffDeflate: boolean;
  private totalTimer: ReturnType<typeof setTimeout> | null;
  private inflated: number;

  constructor(transport: HttpTransport, sink: ResponseSink) {
    this.transport = transport;
    this.sink = sink;
    this.controller = null;
    this.done = false;
    this.paused = false;
    this.pendingAbort = null;
    this.inflater = null;
    this.sniffDeflate = false;
    this.totalTimer = null;
    this.inflated = 0;
  }

  /** @internal */
  start(pool: Pool, req: HttpRequest): void {
    const totalMs = this.transport.timeouts.totalMs;
    this.totalTimer = setTimeout(() => {
      this.abort(
        new InferenceError('timeout', `total timeout after ${totalMs} ms`, {
          provider: this.transport.provider,
          details: { phase: 'total', timeoutMs: totalMs },
        }),
      );
    }, totalMs);
    try {
      pool.dispatch(
        {
          origin: this.transport.origin,
          method: req.method,
          path: req.path,
          headers: req.headers,
          body: req.body,
          ...(req.idleByOutput === true ? { bodyTimeout: 0 } : {}),
        },
        this,
      );
    } catch (e) {
      this.fail(classifyUndiciError(e, this.transport.timeouts, this.transport.provider));
    }
  }

  /** Tears the request down; the sink's `onError` receives `error` (unless the call already ended). */
  abort(error: InferenceError): void {
    if (this.done) return;
    this.fail(error);
  }

  /** Stops reading from the socket until `resume()` (the consumer is behind). */
  pause(): void {
    this.paused = true;
    this.controller?.pause();
    // Compressed bytes already read would otherwise keep inflating into the consumer's buffer.
    this.inflater?.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.controller?.resume();
    this.inflater?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.pendingAbort !== null) controller.abort(this.pendingAbort);
    else if (this.paused) controller.pause();
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: ResponseHeaders): void {
    if (this.done || statusCode < 200) return;
    const encoding = header(headers, 'content-encoding')?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      if (encoding === 'deflate') {
        // "deflate" should be zlib-wrapped, but some servers send raw deflate: decided by the
        // first body bytes.
        this.sniffDeflate = true;
      } else {
        const inflater = createDecompressor(encoding);
        if (inflater === null) {
          this.fail(
            new InferenceError('server_error', `unsupported content-encoding ${JSON.stringify(encoding)}`, {
              provider: this.transport.provider,
              status: statusCode,
              retryable: false,
              details: { code: 'unsupported_content_encoding' },
            }),
          );
          return;
        }
        this.useInflater(inflater);
      }
    }
    try {
      this.sink.onStart(statusCode, headers);
    } catch (e) {
      this.fail(e);
    }
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.done) return;
    if (this.sniffDeflate && chunk.length > 0) {
      this.sniffDeflate = false;
      this.useInflater(isZlibHeader(chunk) ? createInflate() : createInflateRaw());
    }
    if (this.inflater !== null) this.inflater.write(chunk);
    else this.deliver(chunk);
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.sniffDeflate = false;
    if (this.inflater !== null) this.inflater.end();
    else this.finish();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (this.done) return;
    this.fail(classifyUndiciError(error, this.transport.timeouts, this.transport.provider));
  }

  private useInflater(inflater: Transform): void {
    this.inflater = inflater;
    inflater.on('data', (chunk: Buffer) => this.inflatedData(inflater, chunk));
    inflater.on('end', () => this.finish());
    inflater.on('error', (e: Error) => this.fail(classifyUndiciError(e, this.transport.timeouts, this.transport.provider)));
  }

  /** Output of the decompressor: counted and held against the ratio bound before delivery. */
  private inflatedData(inflater: Transform, chunk: Buffer): void {
    if (this.done) return;
    this.inflated += chunk.length;
    this.transport.inflatedBytes += chunk.length;
    const consumed = (inflater as Transform & { bytesWritten: number }).bytesWritten;
    if (this.inflated > INFLATE_RATIO_FLOOR_BYTES && this.inflated > MAX_INFLATE_RATIO * Math.max(1, consumed)) {
      this.fail(
        new InferenceError(
          'server_error',
          `compressed body inflates past ${MAX_INFLATE_RATIO}:1 (${this.inflated} bytes from ${consumed}): refused as a decompression bomb`,
          { provider: this.transport.provider, retryable: false, details: { code: 'decompression_bomb' } },
        ),
      );
      return;
    }
    this.deliver(chunk);
  }

  private deliver(chunk: Buffer): void {
    if (this.done) return;
    let more: boolean;
    try {
      more = this.sink.onData(chunk);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (!more) this.stopReading();
  }

  /** The sink kept all it wants: stop the socket and the decompressor, then end with what was kept. */
  private stopReading(): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    if (this.controller !== null) {
      if (!this.controller.aborted) this.controller.abort(new InferenceError('cancelled', 'response body read far enough', { provider: this.transport.provider }));
    } else {
      this.pendingAbort = new InferenceError('cancelled', 'response body read far enough', { provider: this.transport.provider });
    }
    try {
      this.sink.onEnd();
    } catch (e) {
      this.sink.onError(toInferenceError(e, this.transport.provider));
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    try {
      this.sink.onEnd();
    } catch (e) {
      this.sink.onError(toInferenceError(e, this.transport.provider));
    }
  }

  private fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    const error = toInferenceError(e, this.transport.provider);
    this.cleanup();
    // Tear the socket down: a half-read response cannot be reused for keep-alive.
    if (this.controller !== null) {
      if (!this.controller.aborted) this.controller.abort(error);
    } else {
      this.pendingAbort = error;
    }
    this.sink.onError(error);
  }

  private cleanup(): void {
    if (this.totalTimer !== null) {
      clearTimeout(this.totalTimer);
      this.totalTimer = null;
    }
    if (this.inflater !== null) {
      const inflater = this.inflater;
      this.inflater = null;
      inflater.removeAllListeners('data');
      inflater.removeAllListeners('end');
      inflater.on('error', () => undefined);
      inflater.destroy();
    }
    this.transport.forget(this);
  }
}

/** A zlib stream starts with CMF/FLG: method 8, and the pair is a multiple of 31 (RFC 1950). */
function isZlibHeader(chunk: Buffer): boolean {
  if (chunk.length < 2) return (chunk[0]! & 0x0f) === 8;
  return (chunk[0]! & 0x0f) === 8 && ((chunk[0]! << 8) | chunk[1]!) % 31 === 0;
}

function createDecompressor(encoding: string): Transform | null {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return createGunzip();
    case 'br':
      return createBrotliDecompress();
    default:
      return null;
  }
}

function toInferenceError(e: unknown, provider: string): InferenceError {
  if (InferenceError.isInstance(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new InferenceError('internal', `response handling failed: ${message}`, {
    cause: e,
    provider,
    details: { originalName: (e as Error)?.name },
  });
}
