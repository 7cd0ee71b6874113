/**
 * Runs the worker behind a `PythonRunner`: starts it (with a start-up timeout), hands its frames
 * to the request table, notices when it is gone, and replaces or stops it on request. The state
 * machine is `PythonWorkerState`; `health()` is its synchronous view.
 *
 * A crashed worker is not restarted here: requests fail fast with `runtime_crashed` until
 * `rebuildSession` (from the caller, or `supervise(runner, { rebuild })`) or `loadWeights`
 * starts a new one. Restart policy is core's job, not each runner's.
 *
 * @internal
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { abortError, InferenceError, type Clock } from '@inferkit/inference-core';
import { bridgePythonPath } from './bridge-path.js';
import { FrameError } from './frame-codec.js';
import { PROTOCOL_VERSION, type ErrorFrame, type PongFrame, type ReadyFrame, type WorkerFrame } from './protocol.js';
import type { PythonCrashKind, PythonRunnerHealth, PythonWorkerCrash, PythonWorkerState } from './python-runner-health.js';
import type { ResolvedOptions } from './python-runner-options.js';
import { PythonWorker, type WorkerExit } from './python-worker.js';
import type { RequestTable } from './request-table.js';

const PROVIDER = 'python';

interface PendingPing {
  resolve: (pong: PongFrame) => void;
  reject: (err: InferenceError) => void;
  timer: unknown;
}

export class WorkerSupervisor {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly requests: RequestTable;
  private stateValue: PythonWorkerState;
  private current: PythonWorker | null;
  private starting: Promise<PythonWorker> | null;
  private readyFrame: ReadyFrame | null;
  private enginePid: number | undefined;
  private crash: PythonWorkerCrash | null;
  private crashes: number;
  private restarting: boolean;
  /** Fatal error frame the current worker sent before exiting (e.g. vLLM's engine died). */
  private fatalFrame: ErrorFrame | null;
  /** Workers being stopped on purpose, with the error their requests get. */
  private readonly retiring: Map<PythonWorker, InferenceError>;
  private readonly pings: Map<number, PendingPing>;
  private nonce: number;
  private rebuilding: Promise<void> | null;
  model: string | null;
  revision: string | null;

  constructor(opts: ResolvedOptions, clock: Clock, requests: RequestTable) {
    this.opts = opts;
    this.clock = clock;
    this.requests = requests;
    this.stateValue = 'idle';
    this.current = null;
    this.starting = null;
    this.readyFrame = null;
    this.enginePid = undefined;
    this.crash = null;
    this.crashes = 0;
    this.restarting = false;
    this.fatalFrame = null;
    this.retiring = new Map();
    this.pings = new Map();
    this.nonce = 0;
    this.rebuilding = null;
    this.model = opts.model;
    this.revision = null;
  }

  get state(): PythonWorkerState {
    return this.stateValue;
  }

  /** The ready frame of the running worker; null until it is ready. */
  get ready(): ReadyFrame | null {
    return this.stateValue === 'ready' ? this.readyFrame : null;
  }

  /** The worker process, while one is starting or ready. */
  get worker(): PythonWorker | null {
    return this.stateValue === 'ready' || this.stateValue === 'starting' ? this.current : null;
  }

  health(): PythonRunnerHealth {
    const h: PythonRunnerHealth = {
      state: this.stateValue,
      restarting: this.stateValue === 'starting' && this.restarting,
      crashes: this.crashes,
      inFlight: this.requests.size,
    };
    if (this.crash !== null) h.crash = this.crash;
    const worker = this.worker;
    if (worker !== null && worker.pid !== undefined) h.workerPid = worker.pid;
    if (this.stateValue === 'ready') {
      if (this.enginePid !== undefined) h.enginePid = this.enginePid;
      const since = worker?.sinceAliveMs();
      if (since !== undefined) h.sinceAliveMs = since;
    }
    return h;
  }

  /** The ready worker, starting one if there is none. A crashed runner fails fast with its crash. */
  ensure(signal: AbortSignal | undefined, requestId?: string): Promise<PythonWorker> {
    switch (this.stateValue) {
      case 'ready':
        return Promise.resolve(this.current!);
      case 'crashed':
        return Promise.reject(withRequestId(this.crash!.error, requestId));
      case 'closed':
        return Promise.reject(closedError(requestId));
      case 'idle':
        this.starting = this.launch();
        this.starting.catch(noop); // observed below and by every other waiter
        break;
      case 'starting':
        break;
    }
    return withSignal(this.starting!, signal, requestId);
  }

  /**
   * `rebuildSession`: a running worker is replaced (its requests fail with `cancelled`), a
   * crashed one is started again, a starting one is awaited; with no worker there is nothing to
   * recover and the next request starts one. Concurrent calls share one rebuild.
   */
  rebuild(label: string): Promise<void> {
    if (this.rebuilding !== null) return this.rebuilding;
    this.rebuilding = this.doRebuild(label).finally(() => {
      this.rebuilding = null;
    });
    return this.rebuilding;
  }

  private async doRebuild(label: string): Promise<void> {
    switch (this.stateValue) {
      case 'idle':
        return;
      case 'closed':
        throw closedError();
      case 'starting':
        await this.starting;
        return;
      case 'ready':
        await this.retire(cancelledError(`the python worker was restarted by ${label}`, label));
        break;
      case 'crashed':
        this.stateValue = 'idle';
        break;
    }
    await this.ensure(undefined);
  }

  /** `loadWeights`: serve `model` (restarting the worker for a new one), starting it if needed. */
  async load(model: string | null, revision: string | null, signal: AbortSignal | undefined): Promise<void> {
    if (model !== this.model || revision !== this.revision) {
      this.model = model;
      this.revision = revision;
      if (this.worker !== null) await this.retire(cancelledError('the python worker is reloading weights', 'loadWeights'));
    }
    if (this.stateValue === 'crashed') this.stateValue = 'idle'; // an explicit load starts afresh
    try {
      await this.ensure(signal);
    } catch (err) {
      // An aborted load stops the worker that was starting for it.
      if (signal?.aborted && this.stateValue === 'starting') await this.retire(err as InferenceError);
      throw err;
    }
  }

  /** Stops the current worker on purpose; its requests (and start-up waiters) fail with `reason`. */
  async retire(reason: InferenceError): Promise<void> {
    const worker = this.current;
    if (worker !== null && (this.stateValue === 'ready' || this.stateValue === 'starting')) {
      this.retiring.set(worker, reason);
      await worker.shutdown(this.opts.shutdownGraceMs);
    }
    if (this.stateValue !== 'closed') this.stateValue = 'idle';
    this.starting = null;
    this.readyFrame = null;
  }

  async close(reason: InferenceError): Promise<void> {
    const worker = this.worker;
    this.stateValue = 'closed';
    if (worker !== null) {
      this.retiring.set(worker, reason);
      await worker.shutdown(this.opts.shutdownGraceMs);
    }
    this.readyFrame = null;
  }

  /** Round trip through the worker's event loop, with the engine's health and counters. */
  async ping(timeoutMs: number): Promise<PongFrame> {
    const worker = await this.ensure(undefined);
    const nonce = ++this.nonce;
    return new Promise<PongFrame>((resolve, reject) => {
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
  }

  /** Sends `abort` for a request to the worker running it. */
  abort(wireId: string): void {
    this.worker?.send({ type: 'abort', id: wireId });
  }

  // ---- start-up -----------------------------------------------------------------------------

  private launch(): Promise<PythonWorker> {
    this.restarting = this.current !== null;
    this.stateValue = 'starting';
    this.readyFrame = null;
    this.enginePid = undefined;
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
        const mine = this.current === worker && this.stateValue === 'starting';
        if (err === null && mine) {
          this.stateValue = 'ready';
          this.crash = null;
          worker.startWatchdog();
          resolve(worker);
          return;
        }
        const error = err ?? this.retiring.get(worker) ?? closedError();
        worker.kill();
        if (mine && !this.retiring.has(worker)) {
          this.stateValue = 'crashed';
          this.crash = { kind: 'startup', error, atMs: this.clock.now() };
          this.crashes++;
        }
        reject(error);
      };
      const worker: PythonWorker = new PythonWorker({
        python: opts.python,
        pythonArgs: opts.pythonArgs,
        env,
        cwd: opts.cwd,
        logTailLines: opts.logTailLines,
        clock: this.clock,
        liveness: opts.liveness,
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
            this.readyFrame = frame;
            this.enginePid = servingPid(frame.pid, worker.pid);
            settle(null);
          } else if (frame.type === 'error') {
            // The engine could not start: its own typed error (not_found, bad_request, ...).
            settle(InferenceError.fromJSON({ ...frame.error, provider: PROVIDER }));
          } else {
            settle(new InferenceError('internal', `the python worker sent ${frame.type} before ready`, { provider: PROVIDER }));
          }
        },
        onExit: (exit) => {
          if (!settled) settle(this.retiring.get(worker) ?? this.crashError(exit, 'while starting'));
          this.onExit(worker, exit);
        },
      });
      this.current = worker;
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

  // ---- frames and exits ---------------------------------------------------------------------

  private onFrame(worker: PythonWorker, frame: WorkerFrame): void {
    if (worker !== this.current) return; // a retired worker's last words
    switch (frame.type) {
      case 'delta':
        this.requests.delta(frame);
        return;
      case 'error':
        if (frame.id === undefined) {
          // The worker is about to exit (engine dead, protocol error): remembered for the crash report.
          this.fatalFrame = frame;
          return;
        }
        this.requests.error(frame as ErrorFrame & { id: string });
        return;
      case 'aborted':
        this.requests.aborted(frame);
        return;
      case 'pong': {
        const ping = this.pings.get(frame.nonce);
        if (ping === undefined) return; // answered after its timeout
        this.pings.delete(frame.nonce);
        this.clock.clearTimeout(ping.timer);
        ping.resolve(frame);
        return;
      }
      case 'ready':
        throw new FrameError('the worker sent a second ready frame');
    }
  }

  private onExit(worker: PythonWorker, exit: WorkerExit): void {
    const reason = this.retiring.get(worker);
    this.retiring.delete(worker);
    if (this.opts.onWorkerExit !== undefined) {
      try {
        this.opts.onWorkerExit({ pid: worker.pid, code: exit.code, signal: exit.signal, reason: exit.reason, expected: reason !== undefined });
      } catch {
        // A throwing observer must not change how the exit is handled.
      }
    }
    if (worker !== this.current) return; // replaced earlier; its requests are settled
    this.requests.failAll((requestId) =>
      reason !== undefined
        ? new InferenceError(reason.kind, reason.message, { details: reason.details, provider: PROVIDER, requestId })
        : this.crashError(exit, 'during the request', requestId),
    );
    for (const [nonce, ping] of this.pings) {
      this.clock.clearTimeout(ping.timer);
      ping.reject(reason ?? this.crashError(exit, 'during a ping'));
      this.pings.delete(nonce);
    }
    if (reason !== undefined || this.stateValue !== 'ready') return; // retired, closed, or a failed start (reported by launch)
    this.stateValue = 'crashed';
    this.crash = { kind: crashKind(exit, this.fatalFrame), error: this.crashError(exit, '(call rebuildSession() to restart it)'), atMs: this.clock.now() };
    this.crashes++;
  }

  private crashError(exit: WorkerExit, when: string, requestId?: string): InferenceError {
    const fatal = this.fatalFrame;
    const what = fatal !== null ? `${fatal.error.message}; the python worker ${exit.reason}` : `the python worker ${exit.reason}`;
    const tail = exit.logTail;
    if (exit.spawnFailed) {
      return new InferenceError('not_found', what, { details: { resource: this.opts.python }, provider: PROVIDER, requestId });
    }
    return new InferenceError('runtime_crashed', `${what} ${when}${tail ? `; last log lines:\n${tail}` : ''}`, {
      details: { exitCode: exit.code, signal: exit.signal, stderrTail: tail },
      provider: PROVIDER,
      requestId,
    });
  }
}

function crashKind(exit: WorkerExit, fatal: ErrorFrame | null): PythonCrashKind {
  if (exit.failure !== null) return exit.failure.kind;
  if (fatal !== null || exit.code === 3) return 'engine_dead';
  return exit.signal !== null ? 'signal' : 'exit';
}

/**
 * The pid the ready frame names, if it is the worker itself or its child (the serving process
 * under the reaper); anything else is not trusted (a user might signal it).
 */
function servingPid(reported: number, workerPid: number | undefined): number | undefined {
  if (workerPid === undefined) return undefined;
  if (reported === workerPid) return reported;
  try {
    const stat = readFileSync(`/proc/${reported}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]) === workerPid ? reported : undefined;
  } catch {
    return undefined;
  }
}

function withRequestId(err: InferenceError, requestId: string | undefined): InferenceError {
  if (requestId === undefined) return err;
  return new InferenceError(err.kind, err.message, { details: err.details, provider: err.provider, requestId, retryable: err.retryable });
}

/** The error of everything that meets a closed runner. */
export function closedError(requestId?: string): InferenceError {
  return new InferenceError('cancelled', 'the PythonRunner is closed', {
    details: { reason: 'close' },
    provider: PROVIDER,
    ...(requestId !== undefined ? { requestId } : {}),
  });
}

function cancelledError(message: string, reason: string): InferenceError {
  return new InferenceError('cancelled', message, { details: { reason }, provider: PROVIDER });
}

function withSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined, requestId?: string): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal, requestId));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal, requestId));
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
