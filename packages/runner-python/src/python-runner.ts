/**
 * `PythonRunner`: a `ModelRunner` backed by one Python worker process (`python3 -m
 * inferkit_bridge`) running vLLM, transformers or a custom engine. Requests are multiplexed over
 * the worker's frame pipes; the engine batches them inside the worker (Python is single-threaded
 * under the GIL, so one worker per engine). This file is the contract; the worker's lifecycle is
 * `WorkerSupervisor`, the requests in flight `RequestTable`.
 */
import {
  abortError,
  InferenceError,
  messageText,
  realClock,
  rebuildCauseApplies,
  validateBatch,
  type Clock,
  type ExecuteBatch,
  type ExecuteOptions,
  type LoadWeightsOptions,
  type Message,
  type ModelRunner,
  type RunHandle,
  type RunnerCapabilities,
  type RuntimeKind,
  type SessionRebuildCause,
  type TransportKind,
  type WeightSource,
} from '@inferkit/inference-core';
import path from 'node:path';
import { engineCapabilities } from './engine-capabilities.js';
import type { EngineInfo, GenerateFrame } from './protocol.js';
import type { PythonRunnerHealth } from './python-runner-health.js';
import { resolveOptions, type PythonRunnerOptions, type ResolvedOptions } from './python-runner-options.js';
import { RequestTable } from './request-table.js';
import { closedError, WorkerSupervisor } from './worker-supervisor.js';

/** Result of `PythonRunner.ping()`. */
export interface PythonPingResult {
  /** Requests running in the worker. */
  inFlight: number;
  /** False once the engine reported itself dead. */
  healthy: boolean;
  /** The engine's own counters, if it exposes any. */
  stats: Record<string, unknown> | undefined;
  /** Round trip of the ping through the worker's event loop, ms. */
  roundTripMs: number;
}

const PROVIDER = 'python';
const LABEL = 'PythonRunner';

export class PythonRunner implements ModelRunner {
  private readonly opts: ResolvedOptions;
  private readonly requests: RequestTable;
  private readonly supervisor: WorkerSupervisor;
  private readonly clock: Clock;
  private closing: Promise<void> | null;

  /** @throws InferenceError `bad_request` naming the option, for invalid or unknown options. */
  constructor(options: PythonRunnerOptions) {
    this.opts = resolveOptions(options);
    this.clock = this.opts.clock ?? realClock;
    this.requests = new RequestTable();
    this.supervisor = new WorkerSupervisor(this.opts, this.clock, this.requests);
    this.closing = null;
  }

  // ---- ModelRunner ----------------------------------------------------------------------------

  runtimeKind(): RuntimeKind {
    return this.opts.runtimeKind;
  }

  transportKind(): TransportKind {
    const fromArgs = this.opts.engineArgs.device;
    const device =
      this.opts.deviceLabel ??
      this.supervisor.ready?.engine.device ??
      (typeof fromArgs === 'string' && fromArgs !== '' ? fromArgs : this.opts.engine === 'vllm' ? 'cuda' : 'cpu');
    return { kind: 'local', device };
  }

  /** Always true: the engine runs in one Python process under its GIL. */
  gilPinned(): boolean {
    return true;
  }

  /**
   * What the engine declared once its worker is up; before that, what the configured built-in
   * engine supports, and nothing for a custom engine (`loadWeights()` starts it and reads its
   * declaration). Requests using anything else are refused with `bad_request`.
   */
  capabilities(): RunnerCapabilities {
    return engineCapabilities(this.opts.engine, this.supervisor.ready?.engine, this.opts.promptTemplate !== undefined);
  }

  async loadWeights(source: WeightSource, options?: LoadWeightsOptions): Promise<void> {
    if (this.supervisor.state === 'closed') throw closedError();
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
        model = this.supervisor.model;
        break;
      default:
        throw new InferenceError('bad_request', `unknown weight source ${JSON.stringify(source)?.slice(0, 200)}`, {
          details: { param: 'source' },
          provider: PROVIDER,
        });
    }
    await this.supervisor.load(model, revision, options?.signal);
  }

  async execute(batch: ExecuteBatch, options?: ExecuteOptions): Promise<RunHandle> {
    const requestId = typeof batch?.requestId === 'string' ? batch.requestId : undefined;
    if (this.supervisor.state === 'closed') throw closedError(requestId);
    // Checked against what capabilities() says now, so a caller is never served what it was told
    // is not supported (a custom engine declares nothing until its worker runs: loadWeights()
    // first). A worker that starts for this request may declare less (an older library): checked
    // again then.
    const declared = this.capabilities();
    validateBatch(batch, { label: LABEL, capabilities: declared });
    const signal = options?.signal;
    if (signal?.aborted) throw abortError(signal, batch.requestId);
    // Render before starting anything: a throwing template is the caller's bad request.
    let prompt: string | undefined;
    if (this.opts.promptTemplate !== undefined) {
      try {
        prompt = this.opts.promptTemplate(batch.messages);
      } catch (err) {
        throw new InferenceError('bad_request', `promptTemplate failed: ${(err as Error)?.message ?? String(err)}`, {
          details: { param: 'promptTemplate' },
          cause: err,
          requestId: batch.requestId,
          provider: PROVIDER,
        });
      }
    }
    const worker = await this.supervisor.ensure(signal, batch.requestId);
    const capabilities = this.capabilities();
    if (capabilities !== declared) validateBatch(batch, { label: LABEL, capabilities });
    const frame: GenerateFrame = { type: 'generate', id: '', sampling: batch.sampling ?? {}, model: batch.model };
    if (prompt !== undefined) frame.prompt = prompt;
    else frame.messages = capabilities.images === true ? batch.messages : textMessages(batch.messages, batch.requestId);
    if (batch.responseFormat !== undefined) frame.responseFormat = batch.responseFormat;
    if (batch.tools !== undefined) frame.tools = batch.tools;
    if (batch.toolChoice !== undefined) frame.toolChoice = batch.toolChoice;
    if (signal?.aborted) throw abortError(signal, batch.requestId); // aborted while the worker started
    const { wireId, handle } = this.requests.open(batch.requestId, signal, (id) => this.supervisor.abort(id));
    frame.id = wireId;
    try {
      worker.send(frame);
    } catch (err) {
      // Not serialisable (a cycle, a BigInt) or over the frame limit: the caller's bad request.
      this.requests.discard(wireId);
      throw new InferenceError('bad_request', `the request cannot be sent to the python worker: ${(err as Error).message}`, {
        details: { param: 'batch' },
        cause: err,
        requestId: batch.requestId,
        provider: PROVIDER,
      });
    }
    return handle;
  }

  /**
   * Recovers the worker: a running one is replaced (its requests fail with `cancelled`), a
   * crashed one is started again, a starting one is awaited. Before any worker was started there
   * is nothing to recover: it resolves at once, and the next request starts one. A cause meant for
   * remote runtimes (`remote_auth_failure`, `remote_config_change`) does nothing.
   */
  async rebuildSession(cause: SessionRebuildCause): Promise<void> {
    if (this.supervisor.state === 'closed') throw closedError();
    if (!rebuildCauseApplies(cause, this.transportKind())) return;
    await this.supervisor.rebuild(`rebuildSession(${cause})`);
  }

  /**
   * Final: open streams fail with `cancelled`, the worker is asked to stop and then killed with
   * everything it started; later calls reject with `cancelled`. A second call resolves.
   */
  close(): Promise<void> {
    if (this.closing === null) this.closing = this.supervisor.close(closedError());
    return this.closing;
  }

  // ---- extras -------------------------------------------------------------------------------

  /** The worker's state, last crash and liveness, synchronously (for health endpoints). */
  health(): PythonRunnerHealth {
    return this.supervisor.health();
  }

  /** Round trip through the worker's event loop (starting it if needed), with the engine's health and counters. */
  async ping(timeoutMs = 5_000): Promise<PythonPingResult> {
    if (this.supervisor.state === 'closed') throw closedError();
    const started = this.clock.now();
    const pong = await this.supervisor.ping(timeoutMs);
    return { inFlight: pong.inFlight, healthy: pong.healthy, stats: pong.stats, roundTripMs: this.clock.now() - started };
  }

  /** Engine details from the worker's ready frame; undefined until it is ready. */
  engineInfo(): EngineInfo | undefined {
    return this.supervisor.ready?.engine;
  }

  /** Process id of the worker the runner started (its process group id too), while it runs. */
  workerPid(): number | undefined {
    return this.supervisor.worker?.pid;
  }

  /** Requests running in the worker, or being aborted there. */
  inFlightCount(): number {
    return this.requests.size;
  }
}

/** Messages with text content as strings (core `messageText`), for engines that take no images. */
function textMessages(messages: Message[], requestId: string): Message[] {
  let out: Message[] | null = null;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (typeof m.content === 'string') continue;
    out ??= messages.slice();
    out[i] = { ...m, content: messageText(m.content, `messages[${i}].content`, requestId) };
  }
  return out ?? messages;
}
