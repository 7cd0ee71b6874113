/**
 * `PythonRunner`: a `ModelRunner` backed by one Python worker process (`python3 -m
 * inferkit_bridge`) running vLLM, transformers or a custom engine. Requests are multiplexed over
 * the worker's frame pipes; the engine batches them inside the worker (Python is single-threaded
 * under the GIL, so one worker per engine).
 *
 * Lifecycle: the worker starts on `loadWeights` or the first `execute`; start-up has a timeout.
 * A crash (exit, signal, protocol violation) fails every in-flight request at once with
 * `runtime_crashed` (exit code or signal, last log lines); then `rebuildSession` restarts it, or
 * `autoRestart` does with backoff. `close()` asks for a graceful stop, then kills the process
 * group.
 */
import {
  InferenceError,
  RunHandle,
  realClock,
  type Clock,
  type ExecuteBatch,
  type ExecuteOptions,
  type LoadWeightsOptions,
  type ModelRunner,
  type RuntimeKind,
  type SessionRebuildCause,
  type TokenChunk,
  type TransportKind,
  type WeightSource,
} from '@inferkit/inference-core';
import path from 'node:path';
import { bridgePythonPath } from './bridge-path.js';
import { ChunkQueue } from './chunk-queue.js';
import {
  PROTOCOL_VERSION,
  type DeltaFrame,
  type EngineInfo,
  type ErrorFrame,
  type GenerateFrame,
  type PongFrame,
  type ReadyFrame,
  type WorkerFrame,
} from './protocol.js';
import { resolveOptions, type PythonRunnerOptions, type ResolvedOptions } from './python-runner-options.js';
import { PythonWorker, type WorkerExit } from './python-worker.js';
import { restartDelayMs } from './restart-policy.js';

/** Result of `PythonRunner.ping()`. */
export interface PythonWorkerHealth {
  /** Requests running in the worker. */
  inFlight: number;
  /** False once the engine reported itself dead. */
  healthy: boolean;
  /** The engine's own counters, if it exposes any. */
  stats: Record<string, unknown> | undefined;
  /** Round trip of the ping, ms. */
  roundTripMs: number;
}

type State = 'idle' | 'starting' | 'ready' | 'crashed' | 'closed';

interface PendingRequest {
  wireId: string;
  requestId: string;
  queue: ChunkQueue;
  /** The consumer cancelled; frames until the worker's `aborted` are dropped. */
  cancelled: boolean;
}

interface SlotWaiter {
  resolve: () => void;
  reject: (err: InferenceError) => void;
}

interface PendingPing {
  resolve: (pong: PongFrame) => void;
  reject: (err: InferenceError) => void;
  timer: unknown;
}

const PROVIDER = 'python';

export class PythonRunner implements ModelRunner {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private state: State;
  private worker: PythonWorker | null;
  private startPromise: Promise<PythonWorker> | null;
  private ready: ReadyFrame | null;
  private crashError: InferenceError | null;
  /** Fatal error frame the current worker sent before exiting (e.g. vLLM's engine died). */
  private fatalFrame: ErrorFrame | null;
  /** Workers being shut down on purpose, with the error their requests get. */
  private readonly retiring: Map<PythonWorker, InferenceError>;
  private readonly requests: Map<string, PendingRequest>;
  private readonly waiters: SlotWaiter[];
  private readonly pings: Map<number, PendingPing>;
  private inFlight: number;
  private seq: number;
  private nonce: number;
  private model: string | null;
  private revision: string | null;
  private restartAttempts: number;
  private restartTimer: unknown;
  private lastReadyAt: number;

  constructor(options: PythonRunnerOptions) {
    this.opts = resolveOptions(options);
    this.clock = options.clock ?? realClock;
    this.state = 'idle';
    this.worker = null;
    this.startPromise = null;
    this.ready = null;
    this.crashError = null;
    this.fatalFrame = null;
    this.retiring = new Map();
    this.requests = new Map();
    this.waiters = [];
    this.pings = new Map();
    this.inFlight = 0;
    this.seq = 0;
    this.nonce = 0;
    this.model = this.opts.model;
    this.revision = null;
    this.restartAttempts = 0;
    this.restartTimer = null;
    this.lastReadyAt = 0;
  }

  // ---- ModelRunner ----------------------------------------------------------------------------

  runtimeKind(): RuntimeKind {
    return this.opts.runtimeKind;
  }

  transportKind(): TransportKind {
    const device =
      this.opts.device ?? this.ready?.engine.device ?? (this.opts.engine === 'vllm' ? 'cuda' : 'cpu');
    return { kind: 'local', device };
  }

  /** Always true: the engine runs in one Python process under its GIL. */
  gilPinned(): boolean {
    return true;
  }

  async loadWeights(source: WeightSource, options?: LoadWeightsOptions): Promise<void> {
    this.assertOpen();
    let model: string | null;
    let revision: string | null = null;
    switch (source?.kind) {
      case 'hugging_face':
        model = source.repo;
        revision = source.revision ?? null;
        break;
      case 'local_path':
        model = path.resolve(source.path);
        break;
      case 'runtime_managed':
        model = this.model;
        break;
      default:
        throw new InferenceError('bad_request', `unknown weight source ${JSON.stringify(source)}`, {
          details: { param: 'source' },
          provider: PROVIDER,
        });
    }
    if (this.state === 'crashed') this.resetAfterRetire(); // an explicit load starts a fresh worker
    if (model !== this.model || revision !== this.revision) {
      this.model = model;
      this.revision = revision;
      if (this.worker !== null && !this.worker.exited) {
        await this.retire(this.worker, new InferenceError('cancelled', 'the python worker is reloading weights', {
          details: { reason: 'loadWeights' },
          provider: PROVIDER,
        }));
      }
      this.resetAfterRetire();
    }
    try {
      await this.ensureWorker(options?.signal);
    } catch (err) {
      // An aborted load stops the worker that was starting for it.
      const worker = this.worker;
      if (options?.signal?.aborted && this.state === 'starting' && worker !== null) {
        await this.retire(worker, err as InferenceError);
        this.resetAfterRetire();
      }
      throw err;
    }
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    this.assertOpen();
    if (typeof batch?.requestId !== 'string' || !Array.isArray(batch.messages) || batch.messages.length === 0) {
      throw new InferenceError('bad_request', 'batch needs a string requestId and a non-empty messages array', {
        details: { param: 'batch' },
        provider: PROVIDER,
      });
    }
    const signal = options?.signal;
    if (signal?.aborted) throw cancelledBy(signal, batch.requestId);
    // Render before taking a slot: a throwing template is the caller's bad request.
    let prompt: string | undefined;
    if (this.opts.promptTemplate !== undefined) {
      try {
        prompt = this.opts.promptTemplate(batch.messages);
      } catch (err) {
        throw new InferenceError('bad_request', `promptTemplate failed: ${(err as Error)?.message ?? String(err)}`, {
          cause: err,
          requestId: batch.requestId,
          provider: PROVIDER,
        });
      }
    }
    await this.acquireSlot(batch.requestId, signal);
    let worker: PythonWorker;
    try {
      worker = await this.ensureWorker(signal, batch.requestId);
    } catch (err) {
      this.releaseSlot();
      throw err;
    }
    const wireId = String(++this.seq);
    const request: PendingRequest = { wireId, requestId: batch.requestId, queue: new ChunkQueue(), cancelled: false };
    this.requests.set(wireId, request);
    const frame: GenerateFrame = { type: 'generate', id: wireId, sampling: batch.sampling ?? {}, model: batch.model };
    if (prompt !== undefined) frame.prompt = prompt;
    else frame.messages = batch.messages;
    if (batch.responseFormat !== undefined) frame.responseFormat = batch.responseFormat;
    if (batch.tools !== undefined) frame.tools = batch.tools;
    if (batch.toolChoice !== undefined) frame.toolChoice = batch.toolChoice;
    try {
      worker.send(frame);
    } catch (err) {
      // Not serialisable (a cycle, a BigInt) or over the frame limit: the caller's bad request.
      this.requests.delete(wireId);
      this.releaseSlot();
      throw new InferenceError('bad_request', `the request cannot be sent to the python worker: ${(err as Error).message}`, {
        details: { param: 'batch' },
        cause: err,
        requestId: batch.requestId,
        provider: PROVIDER,
      });
    }
    return RunHandle.streaming(request.queue, () => this.cancelRequest(request), {
      signal,
      requestId: batch.requestId,
    });
  }

  async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    this.assertOpen();
    this.clearRestartTimer();
    const worker = this.worker;
    if (worker !== null && !worker.exited) {
      await this.retire(worker, new InferenceError('cancelled', `the python worker was restarted by rebuildSession(${cause})`, {
        details: { reason: `rebuildSession(${cause})` },
        provider: PROVIDER,
      }));
    }
    this.resetAfterRetire();
    this.restartAttempts = 0;
    await this.ensureWorker(undefined);
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearRestartTimer();
    const closed = new InferenceError('cancelled', 'the PythonRunner was closed', {
      details: { reason: 'close' },
      provider: PROVIDER,
    });
    for (const waiter of this.waiters.splice(0)) waiter.reject(closed);
    const worker = this.worker;
    if (worker !== null) await this.retire(worker, closed);
  }

  // ---- extras -------------------------------------------------------------------------------

  /** Round trip to the worker (starting it if needed), with the engine's health and counters. */
  async ping(timeoutMs = 5_000): Promise<PythonWorkerHealth> {
    this.assertOpen();
    const worker = await this.ensureWorker(undefined);
    const nonce = ++this.nonce;
    const started = this.clock.now();
    const pong = await new Promise<PongFrame>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pings.delete(nonce);
        reject(new InferenceError('timeout', `the python worker did not answer a ping within ${timeoutMs} ms`, {
          details: { phase: 'ping', timeoutMs },
          provider: PROVIDER,
        }));
      }, timeoutMs);
      this.pings.set(nonce, { resolve, reject, timer });
      worker.send({ type: 'ping', nonce });
    });
    return { inFlight: pong.inFlight, healthy: pong.healthy, stats: pong.stats, roundTripMs: this.clock.now() - started };
  }

  /** Engine details from the worker's ready frame; undefined until it has started. */
  engineInfo(): EngineInfo | undefined {
    return this.ready?.engine;
  }

  /** Process id of the running worker, if any (its process group id too). */
  workerPid(): number | undefined {
    return this.state === 'ready' || this.state === 'starting' ? this.worker?.pid : undefined;
  }

  /** Requests holding a slot (running in the worker, or being aborted there). */
  inFlightCount(): number {
    return this.inFlight;
  }

  // ---- worker lifecycle ---------------------------------------------------------------------

  private assertOpen(): void {
    if (this.state === 'closed') {
      throw new InferenceError('bad_request', 'the PythonRunner is closed', { provider: PROVIDER });
    }
  }

  private async ensureWorker(signal: AbortSignal | undefined, requestId?: string): Promise<PythonWorker> {
    switch (this.state) {
      case 'ready':
        return this.worker!;
      case 'crashed':
        throw this.crashError!;
      case 'closed':
        throw new InferenceError('bad_request', 'the PythonRunner is closed', { provider: PROVIDER, requestId });
      case 'idle':
        this.startPromise = this.launch();
        this.startPromise.catch(noop); // observed below and by every other waiter
        break;
      case 'starting':
        break;
    }
    return withSignal(this.startPromise!, signal, requestId);
  }

  private launch(): Promise<PythonWorker> {
    this.state = 'starting';
    this.ready = null;
    this.fatalFrame = null;
    const opts = this.opts;
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    env.PYTHONPATH = [bridgePythonPath(), ...opts.pythonPath, env.PYTHONPATH]
      .filter((p): p is string => typeof p === 'string' && p.length > 0)
      .join(path.delimiter);
    env.PYTHONUNBUFFERED = '1';
    return new Promise<PythonWorker>((resolve, reject) => {
      let settled = false;
      let timer: unknown = null;
      const settle = (err: InferenceError | null): void => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        if (err === null) {
          this.state = 'ready';
          this.lastReadyAt = this.clock.now();
          resolve(worker);
          return;
        }
        if (this.worker === worker && this.state === 'starting') this.state = 'idle';
        worker.kill();
        reject(err);
        if (this.opts.restart !== null && this.restartAttempts > 0 && this.state === 'idle') this.scheduleRestart(err);
      };
      const worker: PythonWorker = new PythonWorker({
        python: opts.python,
        pythonArgs: opts.pythonArgs,
        env,
        cwd: opts.cwd,
        logTailLines: opts.logTailLines,
        clock: this.clock,
        onLog: opts.onLog ?? noop,
        onFrame: (frame) => {
          if (settled) {
            this.onFrame(worker, frame);
            return;
          }
          if (frame.type === 'ready') {
            if (frame.protocol !== PROTOCOL_VERSION) {
              settle(new InferenceError('internal', `the python worker speaks protocol ${frame.protocol}, this runner ${PROTOCOL_VERSION}`, { provider: PROVIDER }));
              return;
            }
            this.ready = frame;
            settle(null);
          } else if (frame.type === 'error') {
            // The engine could not start: its own typed error (not_found, bad_request, ...).
            settle(InferenceError.fromJSON({ ...frame.error, provider: PROVIDER }));
          } else {
            settle(new InferenceError('internal', `the python worker sent ${frame.type} before ready`, { provider: PROVIDER }));
          }
        },
        onExit: (exit) => {
          if (!settled) settle(this.retiring.get(worker) ?? this.crashed(exit, 'while starting'));
          this.onWorkerExit(worker, exit);
        },
      });
      this.worker = worker;
      timer = this.clock.setTimeout(() => {
        const tail = worker.logTail();
        settle(new InferenceError('timeout', `the python worker did not become ready within ${opts.startupTimeoutMs} ms${tail ? `; last log lines:\n${tail}` : ''}`, {
          details: { phase: 'startup', timeoutMs: opts.startupTimeoutMs },
          provider: PROVIDER,
        }));
      }, opts.startupTimeoutMs);
      worker.send({
        type: 'init',
        protocol: PROTOCOL_VERSION,
        engine: opts.engine,
        model: this.model,
        revision: this.revision,
        engineArgs: opts.engineArgs,
      });
    });
  }

  /** Shuts a worker down on purpose; its requests fail with `reason`. */
  private async retire(worker: PythonWorker, reason: InferenceError): Promise<void> {
    this.retiring.set(worker, reason);
    await worker.shutdown(this.opts.shutdownGraceMs);
  }

  private resetAfterRetire(): void {
    if (this.state !== 'closed') this.state = 'idle';
    this.crashError = null;
    this.worker = null;
    this.startPromise = null;
  }

  private crashed(exit: WorkerExit, when: string, requestId?: string): InferenceError {
    const fatal = this.fatalFrame;
    const what = fatal !== null ? `${fatal.error.message}; the python worker ${exit.reason}` : `the python worker ${exit.reason}`;
    const tail = exit.logTail;
    if (exit.spawnFailed) {
      return new InferenceError('not_found', `${what}`, { details: { resource: this.opts.python }, provider: PROVIDER, requestId });
    }
    return new InferenceError('runtime_crashed', `${what} ${when}${tail ? `; last log lines:\n${tail}` : ''}`, {
      details: { exitCode: exit.code, signal: exit.signal, stderrTail: tail },
      provider: PROVIDER,
      requestId,
    });
  }

  private onWorkerExit(worker: PythonWorker, exit: WorkerExit): void {
    const reason = this.retiring.get(worker);
    this.retiring.delete(worker);
    if (this.opts.onWorkerExit !== undefined) {
      try {
        this.opts.onWorkerExit({ pid: worker.pid, code: exit.code, signal: exit.signal, reason: exit.reason, expected: reason !== undefined });
      } catch {
        // A throwing observer must not change how the exit is handled.
      }
    }
    if (worker !== this.worker) return; // a worker replaced earlier; its requests are settled
    const requests = [...this.requests.values()];
    this.requests.clear();
    for (const request of requests) {
      const err =
        reason !== undefined
          ? new InferenceError(reason.kind, reason.message, { details: reason.details, provider: PROVIDER, requestId: request.requestId })
          : this.crashed(exit, 'during the request', request.requestId);
      request.queue.fail(err);
    }
    for (const [nonce, ping] of this.pings) {
      this.clock.clearTimeout(ping.timer);
      ping.reject(reason ?? this.crashed(exit, 'during a ping'));
      this.pings.delete(nonce);
    }
    for (let i = 0; i < requests.length; i++) this.releaseSlot();
    if (reason !== undefined || this.state === 'closed' || this.state === 'idle') return;
    if (this.state === 'starting') return; // reported by launch() as a start-up failure
    this.state = 'crashed';
    this.crashError = this.crashed(exit, '(call rebuildSession() to restart it)');
    if (this.opts.restart !== null) {
      if (this.clock.now() - this.lastReadyAt >= this.opts.restart.resetAfterMs) this.restartAttempts = 0;
      this.state = 'idle';
      this.scheduleRestart(this.crashError);
    }
  }

  private scheduleRestart(last: InferenceError): void {
    const policy = this.opts.restart!;
    const attempt = ++this.restartAttempts;
    if (attempt > policy.maxAttempts) {
      this.state = 'crashed';
      this.crashError = new InferenceError(last.kind, `${last.message} (automatic restart gave up after ${policy.maxAttempts} attempts; call rebuildSession())`, {
        details: last.details,
        provider: PROVIDER,
      });
      return;
    }
    // Requests arriving during the backoff wait for the restart instead of failing.
    this.state = 'starting';
    this.startPromise = new Promise<PythonWorker>((resolve, reject) => {
      this.restartTimer = this.clock.setTimeout(() => {
        this.restartTimer = null;
        if (this.state !== 'starting') {
          reject(this.crashError ?? last);
          return;
        }
        this.launch().then(resolve, reject);
      }, restartDelayMs(policy, attempt));
    });
    this.startPromise.catch(noop);
  }

  private clearRestartTimer(): void {
    if (this.restartTimer !== null) {
      this.clock.clearTimeout(this.restartTimer);
      this.restartTimer = null;
    }
  }

  // ---- frames -------------------------------------------------------------------------------

  private onFrame(worker: PythonWorker, frame: WorkerFrame): void {
    if (worker !== this.worker) return;
    switch (frame.type) {
      case 'delta':
        this.onDelta(frame);
        return;
      case 'error':
        this.onError(frame);
        return;
      case 'aborted': {
        const request = this.requests.get(frame.id);
        if (request === undefined) return;
        if (!request.cancelled) {
          request.queue.fail(new InferenceError('cancelled', 'the python worker aborted the request', {
            details: { reason: 'aborted by the worker' },
            provider: PROVIDER,
            requestId: request.requestId,
          }));
        }
        this.finish(request);
        return;
      }
      case 'pong': {
        const ping = this.pings.get(frame.nonce);
        if (ping === undefined) return;
        this.pings.delete(frame.nonce);
        this.clock.clearTimeout(ping.timer);
        ping.resolve(frame);
        return;
      }
      case 'ready':
        return; // only valid as the first frame; launch() consumed it
    }
  }

  private onDelta(frame: DeltaFrame): void {
    const request = this.requests.get(frame.id);
    if (request === undefined) return;
    const last = frame.finishReason !== undefined;
    if (!request.cancelled) {
      const chunk: TokenChunk = { requestId: request.requestId, textDelta: frame.text };
      if (frame.usage !== undefined) chunk.usage = frame.usage;
      if (last) chunk.finishReason = frame.finishReason;
      request.queue.push(chunk);
      if (last) request.queue.end();
    }
    if (last) this.finish(request);
  }

  private onError(frame: ErrorFrame): void {
    if (frame.id === undefined) {
      // The worker is about to exit (engine dead, protocol error): remembered for the crash report.
      this.fatalFrame = frame;
      return;
    }
    const request = this.requests.get(frame.id);
    if (request === undefined) return;
    if (!request.cancelled) {
      request.queue.fail(InferenceError.fromJSON({ ...frame.error, provider: PROVIDER, requestId: request.requestId }));
    }
    this.finish(request);
  }

  private finish(request: PendingRequest): void {
    if (this.requests.delete(request.wireId)) this.releaseSlot();
  }

  private cancelRequest(request: PendingRequest): void {
    if (request.cancelled || !this.requests.has(request.wireId)) return;
    request.cancelled = true;
    // The slot stays taken until the worker confirms the engine released the request.
    this.worker?.send({ type: 'abort', id: request.wireId });
  }

  // ---- maxInFlight ----------------------------------------------------------------------------

  private acquireSlot(requestId: string, signal: AbortSignal | undefined): Promise<void> {
    if (this.inFlight < this.opts.maxInFlight) {
      this.inFlight++;
      return Promise.resolve();
    }
    if (this.opts.onBackpressure === 'reject') {
      return Promise.reject(new InferenceError('backpressure', `maxInFlight (${this.opts.maxInFlight}) requests are running`, {
        details: { reason: 'capacity', queueLength: this.waiters.length },
        provider: PROVIDER,
        requestId,
      }));
    }
    if (this.waiters.length >= this.opts.maxQueued) {
      return Promise.reject(new InferenceError('backpressure', `maxQueued (${this.opts.maxQueued}) requests are already waiting`, {
        details: { reason: 'queue_full', queueLength: this.waiters.length },
        provider: PROVIDER,
        requestId,
      }));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: SlotWaiter = { resolve, reject };
      this.waiters.push(waiter);
      if (signal !== undefined) {
        const onAbort = (): void => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(cancelledBy(signal, requestId));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.resolve = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      }
    });
  }

  private releaseSlot(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve(); // the slot passes straight to the next waiter
    else this.inFlight--;
  }
}

function cancelledBy(signal: AbortSignal, requestId?: string): InferenceError {
  const reason: unknown = signal.reason;
  if (InferenceError.isInstance(reason)) return reason;
  return new InferenceError('cancelled', 'aborted by the caller signal', {
    details: { reason: reason instanceof Error ? reason.message : 'aborted' },
    provider: PROVIDER,
    requestId,
  });
}

function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, requestId?: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(cancelledBy(signal, requestId));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(cancelledBy(signal, requestId));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function noop(): void {}
