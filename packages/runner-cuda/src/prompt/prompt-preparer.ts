import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { abortError, InferenceError } from '@inferkit/inference-core';
import { packageRoot } from '../binding/binary-path.js';
import { holdEventLoop } from '../host/hold-event-loop.js';
import type { ChatMessage, TemplateTool } from '../chat/chat-prompt.js';
import type { TokenizerOrigin } from '../tokenizer/model-tokenizer.js';
import type { FromWorker, PrepareJob } from './prompt-protocol.js';

const PROVIDER = 'cuda';

/** Limits on one prompt worker and the work it is given. @internal */
export interface PromptLimits {
  /** Most milliseconds a chat template may render one conversation (default 2,000). */
  templateMs: number;
  /** Heap of a worker process; a template (or tokenizer) that needs more fails (default 512 MB). */
  heapMb: number;
  /** Tokenizing may take 10 s plus 1 ms per this many bytes of rendered prompt (default 50). */
  tokenizeBytesPerMs: number;
  /** Worker processes at most (default: 2, or 1 on a one-core machine). */
  workers: number;
}

export const DEFAULT_PROMPT_LIMITS: Readonly<PromptLimits> = Object.freeze({
  templateMs: 2_000,
  heapMb: 512,
  tokenizeBytesPerMs: 50,
  workers: Math.min(2, availableParallelism()),
});

// Loading a tokenizer (a large vocabulary, a GGUF file's metadata) is bounded by the files, but
// a worker that never reports is still a hang to turn into an error.
const START_LIMIT_MS = 120_000;
/** `details.code` of the `bad_request` a template past its time limit fails with. @internal */
export const TEMPLATE_TIME_LIMIT = 'chat_template_time_limit';
/** `details.code` of the `bad_request` a template past its memory limit fails with. @internal */
export const TEMPLATE_MEMORY_LIMIT = 'chat_template_memory_limit';
// The load-time probe: a template that cannot render this within the limits never will.
const PROBE_MESSAGES: ChatMessage[] = [{ role: 'user', content: 'Hello' }];

/** What one prompt needs besides the conversation. @internal */
export interface PrepareOptions {
  continuationTokenIds?: number[];
  /** Tools for the template's `tools` variable. */
  tools?: TemplateTool[];
  /** Rendered prompts longer than this (UTF-8 bytes) are `context_length_exceeded` untokenized. */
  maxPromptBytes: number;
  /** The context, for that error's details. */
  maxContextTokens: number;
  requestId?: string;
  signal?: AbortSignal;
}

interface Job {
  message: PrepareJob;
  requestId: string | undefined;
  resolve(ids: Int32Array): void;
  reject(e: InferenceError): void;
  settled: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

interface Slot {
  worker: ChildProcess;
  state: 'starting' | 'idle' | 'busy' | 'gone';
  job: Job | null;
  /** Whether the busy job's template has finished (then the tokenizer is running). */
  rendered: boolean;
  timer: NodeJS.Timeout | undefined;
  /** Why the worker could not start or be reached ('error' comes before 'exit'). */
  failure: Error | undefined;
  ready: { resolve(bytesPerToken: number | undefined): void; reject(e: InferenceError): void } | undefined;
}

/** Ends a worker process (at once: it may be running away) and resolves once it is gone. */
function terminate(worker: ChildProcess): Promise<void> {
  if (worker.exitCode !== null || worker.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    worker.once('exit', () => resolve());
    // Held until it is gone: an idle worker is unref'd, and a caller awaiting this must not see
    // the event loop run dry first.
    worker.ref();
    worker.kill('SIGKILL');
  });
}

/** The built worker entry (tsup writes it next to the package's other outputs). @internal */
export function promptWorkerPath(): string {
  return join(packageRoot(), 'dist', 'prompt-worker.js');
}

function ignoreSendError(): void {}

function done(job: Job): boolean {
  if (job.settled) return false;
  job.settled = true;
  if (job.onAbort !== undefined) job.signal!.removeEventListener('abort', job.onAbort);
  return true;
}

/**
 * Builds prompt token ids in worker processes: the chat template and the tokenizer run there, so
 * neither a large prompt nor a hostile template stalls the event loop, and both are bounded — a
 * template gets `templateMs` and `heapMb` (a worker past either is ended, its request fails
 * with `bad_request`, a fresh worker takes the next), tokenizing a time in proportion to the
 * rendered size. Rendered text over `maxPromptBytes` is refused before it is tokenized.
 *
 * Processes, not worker threads: a thread's `resourceLimits` are best-effort, and a template
 * that grows one array past them aborts the whole host (V8's fatal out-of-memory,
 * nodejs/node#47224; seen here from a runaway `range()` in a template). A process with its own
 * `--max-old-space-size` takes only itself down.
 *
 * `start` loads the tokenizer in a first worker and renders a one-message conversation there, so
 * a template that breaks the limits on any input fails the load instead of every request.
 * @internal
 */
export class PromptPreparer {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly origin: TokenizerOrigin,
    private readonly limits: PromptLimits,
    /** Most prompt bytes one token stands for (see `ModelTokenizer.promptBytesPerToken`). */
    readonly promptBytesPerToken: number | undefined,
  ) {}

  /** Starts the first worker (rejects with the loading error) and probes the template. */
  static async start(origin: TokenizerOrigin, limits: Partial<PromptLimits> = {}): Promise<PromptPreparer> {
    const all = { ...DEFAULT_PROMPT_LIMITS, ...limits };
    const entry = promptWorkerPath();
    if (!existsSync(entry)) {
      throw new InferenceError('internal', `the prompt worker script is missing at ${entry}; build the package with: pnpm --filter @inferkit/runner-cuda build`, {
        provider: PROVIDER,
      });
    }
    const first = PromptPreparer.spawn(origin, all.heapMb);
    let bytesPerToken: number | undefined;
    try {
      bytesPerToken = await new Promise<number | undefined>((resolve, reject) => {
        first.ready = { resolve, reject };
        first.timer = setTimeout(() => reject(new InferenceError('internal', `the prompt worker did not load the tokenizer within ${START_LIMIT_MS} ms`, { provider: PROVIDER })), START_LIMIT_MS);
      });
    } catch (e) {
      clearTimeout(first.timer);
      first.state = 'gone';
      await terminate(first.worker);
      throw e;
    }
    clearTimeout(first.timer);
    const preparer = new PromptPreparer(origin, all, bytesPerToken);
    preparer.adopt(first);
    try {
      await preparer.prepare(PROBE_MESSAGES, { maxPromptBytes: Number.MAX_SAFE_INTEGER, maxContextTokens: 0 });
    } catch (e) {
      // Only the limits condemn a template here: one that refuses this conversation (it wants a
      // system message, say) may still serve others.
      const code = InferenceError.isInstance(e) ? (e.details as { code?: unknown }).code : undefined;
      if (code === TEMPLATE_TIME_LIMIT || code === TEMPLATE_MEMORY_LIMIT) {
        await preparer.close();
        throw new InferenceError('bad_request', `the model's chat template is refused: ${(e as InferenceError).message}`, { cause: e, details: { param: 'chat_template' }, provider: PROVIDER });
      }
    }
    return preparer;
  }

  /** The token ids of the prompt for `messages` (see `PrepareOptions`). */
  prepare(messages: ChatMessage[], options: PrepareOptions): Promise<Int32Array> {
    const { signal, requestId } = options;
    if (this.closed) return Promise.reject(this.closedError(requestId));
    if (signal?.aborted) return Promise.reject(abortError(signal, requestId));
    return new Promise<Int32Array>((resolve, reject) => {
      const job: Job = {
        message: {
          op: 'prepare',
          id: this.nextId++,
          messages,
          maxPromptBytes: options.maxPromptBytes,
          maxContextTokens: options.maxContextTokens,
          ...(options.continuationTokenIds !== undefined ? { continuationTokenIds: options.continuationTokenIds } : {}),
          ...(options.tools !== undefined ? { tools: options.tools } : {}),
        },
        requestId,
        resolve,
        reject,
        settled: false,
        signal,
        onAbort: undefined,
      };
      if (signal !== undefined) {
        // A job already on a worker runs to its end there (a thread cannot be interrupted without
        // terminating it); its result is dropped.
        job.onAbort = () => {
          if (!done(job)) return;
          const at = this.queue.indexOf(job);
          if (at >= 0) this.queue.splice(at, 1);
          reject(abortError(signal, requestId));
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.queue.push(job);
      this.pump();
    });
  }

  /** Fails queued and running jobs with `cancelled` and ends the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.queue.splice(0)) if (done(job)) job.reject(this.closedError(job.requestId));
    const ending: Promise<void>[] = [];
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      if (slot.job !== null && done(slot.job)) slot.job.reject(this.closedError(slot.job.requestId));
      slot.job = null;
      if (slot.state !== 'gone') {
        slot.state = 'gone';
        ending.push(terminate(slot.worker));
      }
    }
    await Promise.all(ending);
  }

  private closedError(requestId: string | undefined): InferenceError {
    return new InferenceError('cancelled', 'the CudaRunner was closed', { details: { reason: 'close' }, provider: PROVIDER, ...(requestId !== undefined ? { requestId } : {}) });
  }

  private static spawn(origin: TokenizerOrigin, heapMb: number): Slot {
    const env = { ...process.env };
    // Not the host's flags (--input-type, --inspect, loaders): the worker runs plain Node.
    delete env.NODE_OPTIONS;
    const worker = fork(promptWorkerPath(), [JSON.stringify(origin)], {
      execArgv: [`--max-old-space-size=${heapMb}`],
      env,
      serialization: 'advanced',
      // Its stderr would carry V8's out-of-memory report (with paths) into the host's log.
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const slot: Slot = { worker, state: 'starting', job: null, rendered: false, timer: undefined, failure: undefined, ready: undefined };
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'ready') slot.ready?.resolve(m.promptBytesPerToken);
      else if (m.op === 'failed') slot.ready?.reject(InferenceError.fromJSON(m.error));
    });
    worker.on('error', (e) => {
      slot.failure = e;
    });
    worker.on('exit', () => {
      slot.ready?.reject(new InferenceError('internal', `the prompt worker exited while loading the tokenizer${slot.failure ? `: ${slot.failure.message}` : ''}`, { provider: PROVIDER }));
    });
    return slot;
  }

  /** Takes a started worker into the pool. */
  private adopt(slot: Slot): void {
    slot.ready = undefined;
    slot.state = 'idle';
    slot.worker.removeAllListeners('message');
    slot.worker.removeAllListeners('exit');
    slot.worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    slot.worker.on('exit', (code, signal) => this.onExit(slot, code, signal));
    holdEventLoop(slot.worker, false);
    this.slots.push(slot);
  }

  /** Hands queued jobs to idle workers; starts a worker when none is idle and the pool has room. */
  private pump(): void {
    if (this.closed) return;
    for (;;) {
      const job = this.queue[0];
      if (job === undefined) return;
      const slot = this.slots.find((s) => s.state === 'idle');
      if (slot === undefined) {
        this.grow();
        return;
      }
      this.queue.shift();
      slot.state = 'busy';
      slot.job = job;
      slot.rendered = false;
      holdEventLoop(slot.worker, true);
      slot.timer = setTimeout(() => this.overrun(slot, job), this.limits.templateMs);
      // A worker that died meanwhile: its 'exit' fails the job.
      slot.worker.send(job.message, ignoreSendError);
    }
  }

  private grow(): void {
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]!.state === 'gone') this.slots.splice(i, 1);
    if (this.slots.some((s) => s.state === 'starting') || this.slots.length >= this.limits.workers) return;
    const slot = PromptPreparer.spawn(this.origin, this.limits.heapMb);
    this.slots.push(slot);
    slot.ready = {
      resolve: () => {
        this.slots.splice(this.slots.indexOf(slot), 1);
        if (this.closed) {
          slot.state = 'gone';
          void terminate(slot.worker);
          return;
        }
        this.adopt(slot);
        this.pump();
      },
      reject: (e) => {
        slot.state = 'gone';
        // The tokenizer loaded once; if it fails now and no other worker is left, nothing can run
        // the queue. (With one left, the queue waits for it.)
        if (this.slots.some((s) => s.state === 'idle' || s.state === 'busy')) return;
        for (const job of this.queue.splice(0)) if (done(job)) job.reject(e);
      },
    };
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    const job = slot.job;
    if (job === null || (m.op !== 'rendered' && m.op !== 'done') || m.id !== job.message.id) return;
    if (m.op === 'rendered') {
      clearTimeout(slot.timer);
      slot.rendered = true;
      slot.timer = setTimeout(() => this.overrun(slot, job), 10_000 + m.bytes / this.limits.tokenizeBytesPerMs);
      return;
    }
    clearTimeout(slot.timer);
    slot.job = null;
    slot.state = 'idle';
    holdEventLoop(slot.worker, false);
    if (done(job)) {
      if ('ids' in m) job.resolve(m.ids);
      else job.reject(this.withRequest(InferenceError.fromJSON(m.error), job.requestId));
    }
    this.pump();
  }

  /** The job ran past its time: it fails, and the worker (still running it) is replaced. */
  private overrun(slot: Slot, job: Job): void {
    if (slot.job !== job) return;
    const error = slot.rendered
      ? new InferenceError('internal', `tokenizing the prompt did not finish in time; the tokenizer was stopped`, { provider: PROVIDER, requestId: job.requestId })
      : new InferenceError('bad_request', `the chat template did not finish rendering within ${this.limits.templateMs} ms; it was stopped`, {
          details: { code: TEMPLATE_TIME_LIMIT },
          provider: PROVIDER,
          requestId: job.requestId,
        });
    this.retire(slot, error);
  }

  private onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.state === 'gone') return;
    // V8's fatal out-of-memory aborts the process (past --max-old-space-size).
    const oom = signal === 'SIGABRT' || code === 134;
    const job = slot.job;
    const error =
      oom && !slot.rendered
        ? new InferenceError('bad_request', `the chat template needed more than ${this.limits.heapMb} MB; it was stopped`, {
            details: { code: TEMPLATE_MEMORY_LIMIT },
            provider: PROVIDER,
            requestId: job?.requestId,
          })
        : new InferenceError('internal', `the prompt worker died (${signal ?? `exit code ${code}`})`, { provider: PROVIDER, requestId: job?.requestId });
    this.retire(slot, error);
  }

  /** Fails the slot's job with `error`, ends its worker and lets a new one take the queue. */
  private retire(slot: Slot, error: InferenceError): void {
    clearTimeout(slot.timer);
    const job = slot.job;
    slot.job = null;
    if (slot.state !== 'gone') {
      slot.state = 'gone';
      void terminate(slot.worker);
    }
    if (job !== null && done(job)) job.reject(error);
    this.pump();
  }

  private withRequest(e: InferenceError, requestId: string | undefined): InferenceError {
    if (requestId === undefined || e.requestId !== undefined) return e;
    return new InferenceError(e.kind, e.message, { details: e.details as never, provider: PROVIDER, requestId, cause: e });
  }
}
