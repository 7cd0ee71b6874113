import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceError, isInferenceErrorKind } from '@inferkit/inference-core';
import type { AddonEngineInfo, AddonEngineStats, AddonLoadOptions, AddonRequestId, AddonSubmitRequest, AddonTokenEvent } from '../binding/addon-types.js';
import { packageRoot } from '../binding/binary-path.js';
import type { EngineHandle, EngineProgress } from './engine-handle.js';
import { holdEventLoop } from './hold-event-loop.js';
import { FINISH_CODES, type ChildMessage, type ParentMessage, type WireDeliveries, type WireError } from './engine-protocol.js';

const PROVIDER = 'cuda';
const STDERR_TAIL_CHARS = 4096;
// How long a closing child may take to release the device before it is killed.
const CLOSE_GRACE_MS = 15_000;

/** The built child entry (tsup writes it next to the package's other outputs). @internal */
export function engineChildPath(): string {
  return join(packageRoot(), 'dist', 'engine-child.js');
}

function fromWire(e: WireError): InferenceError {
  return new InferenceError(isInferenceErrorKind(e.kind) ? e.kind : 'internal', e.message, { provider: PROVIDER });
}

interface Call {
  resolve(value: unknown): void;
  reject(error: InferenceError): void;
  onProgress?: EngineProgress;
}

/**
 * One child process and everything in flight on it. A connection is used once: `EngineProcess`
 * replaces it on rebuild. While nothing is in flight the child and its channel are unref'd, so a
 * loaded but idle runner does not keep the host's event loop alive, as an in-process engine would not.
 */
class Connection {
  private readonly child: ChildProcess;
  private readonly streams = new Map<number, (event: AddonTokenEvent) => void>();
  private readonly calls = new Map<number, Call>();
  private nextRid = 1;
  private stderrTail = '';
  private closing = false;
  private referenced = true;
  /** Set once the process is gone: why it went. */
  private gone: InferenceError | null = null;
  /** Set when the engine reported a sticky failure: every new request is refused with it. */
  poison: InferenceError | null = null;
  readonly closed: Promise<void>;

  constructor(env: NodeJS.ProcessEnv | undefined) {
    const entry = engineChildPath();
    if (!existsSync(entry)) {
      throw new InferenceError('internal', `the engine host script is missing at ${entry}; build the package with: pnpm --filter @inferkit/runner-cuda build`, {
        provider: PROVIDER,
      });
    }
    this.child = fork(entry, [], {
      serialization: 'advanced',
      // No inherited --inspect/--import flags: the child runs plain Node with the addon.
      execArgv: [],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      ...(env !== undefined ? { env } : {}),
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk).slice(-STDERR_TAIL_CHARS);
    });
    this.child.on('message', (m) => this.onMessage(m as ChildMessage));
    // A failed spawn emits 'error' and then 'close'; 'close' does the bookkeeping.
    this.child.on('error', () => undefined);
    this.closed = new Promise((resolve) => {
      this.child.once('close', (code, signal) => {
        this.onGone(code, signal);
        resolve();
      });
    });
    this.updateRef();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Why new work is refused now (`null` when the engine takes work). */
  refusal(): InferenceError | null {
    return this.gone ?? this.poison;
  }

  load(binaryPath: string, options: AddonLoadOptions, onProgress?: EngineProgress): Promise<AddonEngineInfo> {
    return this.call<AddonEngineInfo>((rid) => ({ op: 'load', rid, binaryPath, options }), onProgress);
  }

  stats(): Promise<AddonEngineStats> {
    return this.call((rid) => ({ op: 'stats', rid }));
  }

  logits(tokens: Int32Array): Promise<Float32Array> {
    return this.call((rid) => ({ op: 'logits', rid, tokens }));
  }

  submit(id: number, request: AddonSubmitRequest, onEvent: (event: AddonTokenEvent) => void): void {
    const refused = this.refusal();
    if (refused !== null) throw refused;
    this.streams.set(id, onEvent);
    this.send({ op: 'submit', id, request });
  }

  cancel(id: number): void {
    if (this.streams.has(id)) this.send({ op: 'cancel', id });
  }

  injectFault(kind: 'sticky_failure'): void {
    this.send({ op: 'fault', kind });
  }

  /**
   * Ends the process: a polite close first (the engine cancels its requests and frees the device),
   * SIGKILL if that has not finished within `graceMs`. Streams still open get `cancelled`, or the
   * poison error when the engine was poisoned.
   */
  shutdown(graceMs: number): Promise<void> {
    if (this.gone === null && !this.closing) {
      this.closing = true;
      this.updateRef();
      if (graceMs > 0) this.call((rid) => ({ op: 'close', rid })).catch(() => undefined);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      void this.closed.then(() => clearTimeout(timer));
    }
    return this.closed;
  }

  private call<T>(message: (rid: number) => ParentMessage, onProgress?: EngineProgress): Promise<T> {
    const refused = this.gone;
    if (refused !== null) return Promise.reject(refused);
    const rid = this.nextRid++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(rid, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.send(message(rid));
    });
  }

  private send(message: ParentMessage): void {
    this.updateRef();
    // A send racing the child's exit fails; 'close' then settles everything that was in flight.
    if (this.child.connected) this.child.send(message, undefined, undefined, ignore);
  }

  private onMessage(m: ChildMessage): void {
    switch (m.op) {
      case 'events':
        this.dispatch(m);
        break;
      case 'progress': {
        const onProgress = this.calls.get(m.rid)?.onProgress;
        try {
          onProgress?.({ fraction: m.fraction, stage: m.stage });
        } catch {
          // Progress callbacks must not break the channel.
        }
        break;
      }
      case 'reply': {
        const call = this.calls.get(m.rid);
        if (call === undefined) break;
        this.calls.delete(m.rid);
        if (m.ok) call.resolve(m.value);
        else call.reject(fromWire(m.error));
        break;
      }
    }
    this.updateRef();
  }

  private dispatch({ packed, errors }: WireDeliveries): void {
    for (let i = 0; i < packed.length; ) {
      const id = packed[i]!;
      const finishReason = FINISH_CODES[packed[i + 1]!];
      const cached = packed[i + 2]!;
      const n = packed[i + 3]!;
      const tokens = packed.subarray(i + 4, i + 4 + n);
      i += 4 + n;
      const onEvent = this.streams.get(id);
      if (onEvent === undefined) continue;
      if (finishReason !== undefined) this.streams.delete(id);
      const error = errors?.[id];
      if (error?.kind === 'cuda_context_poisoned' && this.poison === null) this.poison = fromWire(error);
      const event: AddonTokenEvent = { tokens };
      if (cached >= 0) event.cachedTokens = cached;
      if (finishReason !== undefined) event.finishReason = finishReason;
      if (error !== undefined) event.error = error;
      onEvent(event);
    }
  }

  private onGone(code: number | null, signal: NodeJS.Signals | null): void {
    const how = signal !== null ? `signal ${signal}` : `exit code ${String(code)}`;
    const crashed = !this.closing;
    this.gone = crashed
      ? new InferenceError(
          'runtime_crashed',
          `the engine process (pid ${String(this.child.pid)}) died with ${how}; rebuildSession() starts a new one` +
            (this.stderrTail.trim() !== '' ? `. Last stderr: ${this.stderrTail.trim().slice(-400)}` : ''),
          { details: { exitCode: code, signal, stderrTail: this.stderrTail }, provider: PROVIDER },
        )
      : new InferenceError('cancelled', 'the engine process was closed (runner closed, reloaded or rebuilt)', { provider: PROVIDER });
    const streams = [...this.streams.values()];
    const calls = [...this.calls.values()];
    this.streams.clear();
    this.calls.clear();
    // The same last event for every open stream: why the process went.
    const last: AddonTokenEvent = crashed
      ? { tokens: new Int32Array(0), finishReason: 'error', error: { kind: 'runtime_crashed', message: this.gone.message, details: this.gone.details } }
      : this.poison !== null
        ? { tokens: new Int32Array(0), finishReason: 'error', error: { kind: this.poison.kind, message: this.poison.message } }
        : { tokens: new Int32Array(0), finishReason: 'cancelled' };
    for (const onEvent of streams) onEvent(last);
    for (const call of calls) call.reject(this.gone);
  }

  private updateRef(): void {
    const busy = this.gone === null && (this.closing || this.streams.size > 0 || this.calls.size > 0);
    if (busy === this.referenced) return;
    this.referenced = busy;
    holdEventLoop(this.child, busy);
  }
}

function ignore(): void {}

/**
 * An engine hosted in a child process. A sticky CUDA error can only be cleared by a new process on
 * current drivers (`cudaDeviceReset` leaves the device unavailable to the process that reset it),
 * and a crash in the driver or a kernel then kills the child, not the host: its requests fail with
 * `runtime_crashed`, and `rebuild()` starts a new process with the same weights.
 * @internal
 */
export class EngineProcess implements EngineHandle {
  readonly hosting = 'child-process' as const;
  private nextId = 1;
  // Set when a rebuild could not load the weights again: the error every request gets until a
  // later rebuild succeeds.
  private broken: InferenceError | null = null;

  private constructor(
    private readonly binaryPath: string,
    private readonly options: AddonLoadOptions,
    private readonly closeGraceMs: number,
    private readonly env: NodeJS.ProcessEnv | undefined,
    private conn: Connection,
    public info: AddonEngineInfo,
  ) {}

  /**
   * Starts a child and loads `options` into it; rejects (with the child gone) if the load fails.
   * `signal` kills the loading child at once (a native load itself cannot be interrupted).
   * `closeGraceMs`: how long a closing child may take before it is killed (default 15 s). `env`:
   * the child's environment (default: this process's), e.g. `CUDA_VISIBLE_DEVICES` to pin a device;
   * a rebuild starts the new child with the same.
   */
  static async start(
    binaryPath: string,
    options: AddonLoadOptions,
    onProgress?: EngineProgress,
    { closeGraceMs = CLOSE_GRACE_MS, signal, env }: { closeGraceMs?: number; signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
  ): Promise<EngineProcess> {
    const conn = new Connection(env);
    const abort = () => void conn.shutdown(0);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      if (signal?.aborted) throw new InferenceError('cancelled', 'loadWeights aborted', { provider: PROVIDER });
      const info = await conn.load(binaryPath, options, onProgress);
      // The reply may have been on its way when the abort landed.
      if (signal?.aborted) throw new InferenceError('cancelled', 'loadWeights aborted', { provider: PROVIDER });
      return new EngineProcess(binaryPath, options, closeGraceMs, env, conn, info);
    } catch (e) {
      await conn.shutdown(0);
      if (signal?.aborted) throw new InferenceError('cancelled', 'loadWeights aborted', { cause: e, provider: PROVIDER });
      throw e;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  /** @internal The child's process id, for tests. */
  get pid(): number | undefined {
    return this.conn.pid;
  }

  submit(request: AddonSubmitRequest, onEvent: (event: AddonTokenEvent) => void): AddonRequestId {
    if (this.broken !== null) throw this.broken;
    const id = this.nextId++;
    this.conn.submit(id, request, onEvent);
    return id as AddonRequestId;
  }

  cancel(id: AddonRequestId): void {
    this.conn.cancel(id);
  }

  stats(): Promise<AddonEngineStats> {
    return this.conn.stats();
  }

  logits(tokens: Int32Array): Promise<Float32Array> {
    return this.conn.logits(tokens);
  }

  injectFault(kind: 'sticky_failure'): void {
    this.conn.injectFault(kind);
  }

  /**
   * Replaces the process: in-flight requests fail (`cuda_context_poisoned` when the engine was
   * poisoned, else `cancelled`), and a new child loads the same weights. A poisoned or crashed child
   * gets no grace period: its device context is useless, and a hung one would only delay recovery.
   */
  async rebuild(): Promise<void> {
    const old = this.conn;
    await old.shutdown(old.refusal() !== null ? 0 : this.closeGraceMs);
    const conn = new Connection(this.env);
    this.conn = conn;
    try {
      this.info = await conn.load(this.binaryPath, this.options);
      this.broken = null;
    } catch (e) {
      await conn.shutdown(0);
      this.broken = InferenceError.isInstance(e) ? e : new InferenceError('internal', String(e), { cause: e, provider: PROVIDER });
      throw this.broken;
    }
  }

  close(): Promise<void> {
    return this.conn.shutdown(this.closeGraceMs);
  }
}
