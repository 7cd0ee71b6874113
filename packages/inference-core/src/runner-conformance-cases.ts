import type { ExecuteBatch } from './execute-batch.js';
import { InferenceError, INFERENCE_ERROR_KINDS } from './inference-error.js';
import { isGilPinned } from './is-gil-pinned.js';
import { rebuildCauseApplies } from './rebuild-cause-applies.js';
import { RUNNER_CAPABILITY_NAMES, type RunnerCapabilities } from './runner-capabilities.js';
import type { RunnerFactory } from './runner-factory.js';
import type { ModelRunner } from './model-runner.js';
import type { RunHandle } from './run-handle.js';
import { SESSION_REBUILD_CAUSES, type SessionRebuildCause } from './session-rebuild-cause.js';
import type { TokenChunk } from './token-chunk.js';
import { Tokens } from './tokens.js';

/** What the runner under test can do; everything is optional. */
export interface ConformanceCapabilities {
  /**
   * Builds a valid request. It should stream at least 2 chunks before finishing (needed by the
   * mid-stream cancellation cases). Default: model `model`, one user message, `maxTokens: 16`.
   */
  batch?: (requestId: string) => ExecuteBatch;
  /** Model name for the default batch (default `'test-model'`). */
  model?: string;
  /** Whether the final usage is reported (default true). */
  reportsUsage?: boolean;
  /** Whether `batch()` streams at least 2 chunks (default true). When false, mid-stream cases only check what they can. */
  multiChunk?: boolean;
  /** Requests run at once in the concurrency case (default 4). */
  concurrency?: number;
  /** Causes `rebuildSession` must accept, after which a request must succeed (default `['manual']`). */
  rebuildCauses?: SessionRebuildCause[];
  /** A runner of the same kind whose requests fail (e.g. bad credentials, dead endpoint). */
  createFailing?: () => ModelRunner | Promise<ModelRunner>;
  /** Deadline of each awaited step, so that a hang fails instead of stalling the suite (default 10 s). */
  timeoutMs?: number;
}

/** Options of `runnerConformanceCases`. */
export interface ConformanceOptions {
  /** A fresh runner per case (closed with `close()` at the end of the case, if it has one). */
  create: () => ModelRunner | Promise<ModelRunner>;
  /** What the runner can do. */
  capabilities?: ConformanceCapabilities;
}

/** One case; register with any test runner: `for (const c of cases) test(c.name, c.run)`. */
export interface ConformanceCase {
  /** Stable short id, e.g. `'cancel.mid-stream'`. */
  id: string;
  /** Stable display name: `'<id>: <what it checks>'`. */
  name: string;
  /** Runs the case; rejects with an `Error` explaining the violation. */
  run: () => Promise<void>;
}

/**
 * The contract every runner must meet: streaming shape, usage and finish reason, cancellation,
 * abort signals, error typing, `rebuildSession`, concurrency, kinds. Cases never depend on timing:
 * they await the runner (with a generous deadline only to turn hangs into failures), so runners
 * that emit asynchronously pass.
 */
export function runnerConformanceCases(options: ConformanceOptions): ConformanceCase[] {
  const caps = options.capabilities ?? {};
  const timeoutMs = caps.timeoutMs ?? 10_000;
  const multiChunk = caps.multiChunk ?? true;
  let seq = 0;
  const makeBatch = (tag: string): ExecuteBatch => {
    const requestId = `conf-${tag}-${++seq}`;
    if (caps.batch !== undefined) return caps.batch(requestId);
    return {
      requestId,
      model: caps.model ?? 'test-model',
      messages: [{ role: 'user', content: 'Count from one to twenty.' }],
      sampling: { maxTokens: 16, temperature: 0 },
      stream: true,
      estimatedTokens: 32,
    };
  };
  const within = <T>(p: Promise<T>, what: string): Promise<T> => deadline(p, timeoutMs, what);
  const withRunner = (fn: (runner: ModelRunner) => Promise<void>) => async (): Promise<void> => {
    const runner = await within(Promise.resolve(options.create()), 'create()');
    try {
      await fn(runner);
    } finally {
      if (typeof runner.close === 'function') await within(runner.close(), 'close()').catch(() => undefined);
    }
  };
  const collectChunks = async (handle: RunHandle, what: string): Promise<TokenChunk[]> => {
    const chunks: TokenChunk[] = [];
    const it = handle[Symbol.asyncIterator]();
    for (;;) {
      const r = await within(it.next(), `${what}: next()`);
      if (r.done === true) return chunks;
      chunks.push(r.value);
    }
  };
  /** After a cancel/abort/break: next() must reject with `cancelled` or report done — never a chunk. */
  const expectStopped = async (it: AsyncIterator<TokenChunk>, what: string, allowDone: boolean): Promise<void> => {
    let r: IteratorResult<TokenChunk>;
    try {
      r = await within(it.next(), `${what}: next() after stop`);
    } catch (e) {
      if (InferenceError.isInstance(e) && e.kind === 'cancelled') return;
      if (e instanceof DeadlineError) throw e;
      throw new Error(`${what}: next() after stop threw ${describe(e)}, expected InferenceError kind 'cancelled'`);
    }
    if (r.done !== true) {
      throw new Error(`${what}: a chunk arrived after the stream was stopped: ${JSON.stringify(r.value)}`);
    }
    if (!allowDone) throw new Error(`${what}: next() after stop resolved done, expected a 'cancelled' InferenceError`);
  };
  const canStillServe = async (runner: ModelRunner, what: string): Promise<void> => {
    const handle = await within(runner.execute(makeBatch('after')), `${what}: execute() of a follow-up request`);
    const chunks = await collectChunks(handle, `${what}: follow-up request`);
    if (!chunks.some((c) => c.finishReason !== undefined)) throw new Error(`${what}: follow-up request did not finish`);
  };

  const cases: ConformanceCase[] = [];
  const add = (id: string, what: string, run: () => Promise<void>): void => {
    cases.push({ id, name: `${id}: ${what}`, run });
  };

  add('kinds.describe', 'runtimeKind(), transportKind(), gilPinned() (default applied) and estimateCostUsd() are well-formed', withRunner(async (runner) => {
    const rk = runner.runtimeKind();
    if (typeof rk !== 'string' || (rk as string) === '') throw new Error(`runtimeKind() returned ${describe(rk)}`);
    const tk = runner.transportKind();
    const okTransport =
      typeof tk === 'object' && tk !== null &&
      ((tk.kind === 'local' && typeof tk.device === 'string') || (tk.kind === 'remote' && typeof tk.provider === 'string'));
    if (!okTransport) throw new Error(`transportKind() returned ${JSON.stringify(tk)}`);
    if (typeof isGilPinned(runner) !== 'boolean') throw new Error('gilPinned() did not return a boolean');
    if (typeof runner.estimateCostUsd === 'function') {
      const c = runner.estimateCostUsd(makeBatch('cost'));
      if (c !== undefined && !(typeof c === 'number' && Number.isFinite(c) && c >= 0)) {
        throw new Error(`estimateCostUsd() returned ${describe(c)}: must be undefined (unknown) or a finite number >= 0`);
      }
    }
  }));

  add('stream.shape', 'chunks carry the request id and string text deltas', withRunner(async (runner) => {
    const batch = makeBatch('shape');
    const handle = await within(runner.execute(batch), 'execute()');
    checkHandle(handle);
    const chunks = await collectChunks(handle, 'stream');
    if (chunks.length === 0) throw new Error('the stream produced no chunks');
    for (const [i, c] of chunks.entries()) {
      if (typeof c !== 'object' || c === null) throw new Error(`chunk ${i} is ${describe(c)}`);
      if (c.requestId !== batch.requestId) throw new Error(`chunk ${i} has requestId ${describe(c.requestId)}, expected ${batch.requestId}`);
      if (typeof c.textDelta !== 'string') throw new Error(`chunk ${i} has textDelta ${describe(c.textDelta)}`);
    }
    if (multiChunk && chunks.length < 2) throw new Error(`expected at least 2 chunks (capabilities.multiChunk), got ${chunks.length}`);
  }));

  add('stream.finish-last', 'exactly one chunk has a valid finishReason and nothing follows it', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('finish')), 'execute()');
    const chunks = await collectChunks(handle, 'stream');
    const idx = chunks.flatMap((c, i) => (c.finishReason !== undefined ? [i] : []));
    if (idx.length === 0) throw new Error('no chunk carried a finishReason');
    if (idx.length > 1) throw new Error(`${idx.length} chunks carried a finishReason (at ${idx.join(', ')})`);
    if (idx[0] !== chunks.length - 1) {
      throw new Error(`${chunks.length - 1 - idx[0]!} chunk(s) were emitted after the finish chunk`);
    }
    const fr = chunks[idx[0]!]!.finishReason;
    if (!['stop', 'length', 'tool_calls', 'content_filter', 'error'].includes(fr as string)) {
      throw new Error(`finishReason ${describe(fr)} is not a FinishReason`);
    }
  }));

  add('stream.collect', 'collect() returns Tokens with the concatenated text and the finish reason', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('collect')), 'execute()');
    const tokens = await within(handle.collect(), 'collect()');
    if (!(tokens instanceof Tokens) && typeof (tokens as Tokens)?.text !== 'string') throw new Error('collect() did not return Tokens');
    if (tokens.finishReason === undefined) throw new Error('collect(): Tokens.finishReason is undefined');
    if (tokens.chunkCount === 0) throw new Error('collect(): no chunks');
  }));

  if (caps.reportsUsage ?? true) {
    add('usage.reported', 'usage is reported with non-negative integer counts (undefined = unknown)', withRunner(async (runner) => {
      const handle = await within(runner.execute(makeBatch('usage')), 'execute()');
      const tokens = await within(handle.collect(), 'collect()');
      const u = tokens.usage;
      if (u === undefined) throw new Error('no chunk carried usage');
      for (const k of ['inputTokens', 'outputTokens', 'reasoningTokens', 'cachedTokens'] as const) {
        const v = u[k];
        if (v !== undefined && !(Number.isInteger(v) && v >= 0)) throw new Error(`usage.${k} is ${describe(v)}`);
      }
      if (u.inputTokens === undefined && u.outputTokens === undefined) throw new Error('usage has neither inputTokens nor outputTokens');
      if (tokens.costUsd !== undefined && !(Number.isFinite(tokens.costUsd) && tokens.costUsd >= 0)) {
        throw new Error(`costUsd is ${describe(tokens.costUsd)}`);
      }
    }));
  }

  add('cancel.before-first-chunk', 'cancel() right after execute() yields no chunk and rejects with cancelled', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('cancel0')), 'execute()');
    handle.cancel('conformance: cancel before first chunk');
    await expectStopped(handle[Symbol.asyncIterator](), 'cancel before first chunk', false);
    await canStillServe(runner, 'after cancel');
  }));

  add('cancel.mid-stream', 'cancel() after the first chunk stops the stream with cancelled; no further chunk arrives', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('cancel1')), 'execute()');
    const it = handle[Symbol.asyncIterator]();
    const first = await within(it.next(), 'first next()');
    if (first.done === true) throw new Error('the stream ended without a chunk');
    if (first.value.finishReason !== undefined) {
      if (multiChunk) throw new Error('the first chunk already finished the stream (capabilities.multiChunk)');
      return;
    }
    handle.cancel('conformance: cancel mid-stream');
    await expectStopped(it, 'cancel mid-stream', false);
    // A second cancel is a no-op, never a throw.
    handle.cancel('again');
    await canStillServe(runner, 'after cancel');
  }));

  add('cancel.while-pending', 'cancel() while a next() is pending settles it promptly; nothing follows (sources must honour the abort signal)', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('cancelp')), 'execute()');
    const it = handle[Symbol.asyncIterator]();
    const first = await within(it.next(), 'first next()');
    if (first.done === true) throw new Error('the stream ended without a chunk');
    if (first.value.finishReason !== undefined) {
      if (multiChunk) throw new Error('the first chunk already finished the stream (capabilities.multiChunk)');
      return;
    }
    const pending = it.next();
    handle.cancel('conformance: cancel while a next() is pending');
    try {
      // A chunk produced before the cancel may still be delivered; a hang may not.
      await within(pending, 'the next() pending during cancel() (does the source ignore the abort signal?)');
    } catch (e) {
      if (e instanceof DeadlineError) throw e;
      if (!(InferenceError.isInstance(e) && e.kind === 'cancelled')) {
        throw new Error(`the pending next() rejected with ${describe(e)}, expected kind 'cancelled'`);
      }
    }
    await expectStopped(it, 'cancel while pending', true);
    await canStillServe(runner, 'after cancel');
  }));

  add('cancel.break', 'breaking out of for-await stops the stream and frees the runner', withRunner(async (runner) => {
    const handle = await within(runner.execute(makeBatch('break')), 'execute()');
    let seen = 0;
    await within(
      (async () => {
        for await (const chunk of handle) {
          void chunk;
          seen++;
          break;
        }
      })(),
      'for-await with break',
    );
    if (seen !== 1) throw new Error(`expected 1 chunk before break, saw ${seen}`);
    await expectStopped(handle, 'break', true);
    await canStillServe(runner, 'after break');
  }));

  add('abort.before-execute', 'an already-aborted signal fails with cancelled and yields no chunk', withRunner(async (runner) => {
    const ac = new AbortController();
    ac.abort();
    let handle: RunHandle;
    try {
      handle = await within(runner.execute(makeBatch('abort0'), { signal: ac.signal }), 'execute()');
    } catch (e) {
      if (InferenceError.isInstance(e) && e.kind === 'cancelled') return;
      throw new Error(`execute() with an aborted signal rejected with ${describe(e)}, expected kind 'cancelled'`);
    }
    await expectStopped(handle[Symbol.asyncIterator](), 'aborted signal', false);
  }));

  add('abort.mid-stream', "aborting the execute() signal after the first chunk fails the stream with cancelled", withRunner(async (runner) => {
    const ac = new AbortController();
    const handle = await within(runner.execute(makeBatch('abort1'), { signal: ac.signal }), 'execute()');
    const it = handle[Symbol.asyncIterator]();
    const first = await within(it.next(), 'first next()');
    if (first.done === true) throw new Error('the stream ended without a chunk');
    if (first.value.finishReason !== undefined) {
      if (multiChunk) throw new Error('the first chunk already finished the stream (capabilities.multiChunk)');
      return;
    }
    ac.abort();
    await expectStopped(it, 'abort mid-stream', false);
    await canStillServe(runner, 'after abort');
  }));

  add('errors.invalid-batch', 'a malformed batch fails with an InferenceError (never a plain Error, a crash or a hang)', withRunner(async (runner) => {
    const batch = { ...makeBatch('invalid'), messages: 'not an array' as unknown as ExecuteBatch['messages'], sampling: { maxTokens: -1 } };
    let err: unknown;
    try {
      const handle = await within(runner.execute(batch), 'execute() of a malformed batch');
      await collectChunks(handle, 'malformed batch stream');
    } catch (e) {
      err = e;
    }
    if (err === undefined) throw new Error('a malformed batch (messages not an array, maxTokens -1) succeeded');
    if (err instanceof DeadlineError) throw err;
    if (!InferenceError.isInstance(err)) throw new Error(`a malformed batch failed with ${describe(err)}, not an InferenceError`);
    if (!(INFERENCE_ERROR_KINDS as readonly string[]).includes(err.kind)) throw new Error(`unknown kind ${describe(err.kind)}`);
    const back = InferenceError.fromJSON(JSON.parse(JSON.stringify(err)));
    if (back.kind !== err.kind) throw new Error('the error does not survive a JSON round trip');
  }));

  const createFailing = caps.createFailing;
  if (createFailing !== undefined) {
    add('errors.failing-runner', 'a failing backend reports an InferenceError from execute() or the stream', async () => {
      const runner = await within(Promise.resolve(createFailing()), 'createFailing()');
      try {
        let err: unknown;
        try {
          const handle = await within(runner.execute(makeBatch('fail')), 'execute()');
          await collectChunks(handle, 'failing stream');
        } catch (e) {
          err = e;
        }
        if (err === undefined) throw new Error('the failing runner succeeded');
        if (err instanceof DeadlineError) throw err;
        if (!InferenceError.isInstance(err)) throw new Error(`failed with ${describe(err)}, not an InferenceError`);
        if (typeof err.retryable !== 'boolean' || typeof err.countsAsCircuitFailure !== 'boolean') {
          throw new Error('InferenceError lacks retryable / countsAsCircuitFailure');
        }
      } finally {
        if (typeof runner.close === 'function') await within(runner.close(), 'close()').catch(() => undefined);
      }
    });
  }

  add('rebuild-session.recovers', 'rebuildSession() resolves and the runner serves afterwards', withRunner(async (runner) => {
    for (const cause of caps.rebuildCauses ?? (['manual'] as SessionRebuildCause[])) {
      await within(runner.rebuildSession(cause), `rebuildSession('${cause}')`);
      await canStillServe(runner, `after rebuildSession('${cause}')`);
    }
  }));

  add('capabilities.describe', 'capabilities(), if present, returns only known capability names with boolean values', withRunner(async (runner) => {
    if (typeof runner.capabilities !== 'function') return;
    const caps = runner.capabilities() as unknown;
    if (typeof caps !== 'object' || caps === null || Array.isArray(caps)) throw new Error(`capabilities() returned ${describe(caps)}`);
    for (const [k, v] of Object.entries(caps)) {
      if (!(RUNNER_CAPABILITY_NAMES as readonly string[]).includes(k)) throw new Error(`capabilities() has unknown key ${describe(k)}`);
      if (typeof v !== 'boolean') throw new Error(`capabilities().${k} is ${describe(v)}, expected a boolean`);
    }
  }));

  // A request per capability that uses it; the runner must serve it when it declares the
  // capability and refuse it with bad_request when it does not (never ignore it silently).
  const featureBatches: Record<Exclude<keyof RunnerCapabilities, 'tokenIds'>, (b: ExecuteBatch) => ExecuteBatch> = {
    tools: (b) => ({
      ...b,
      tools: [{ name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }],
    }),
    responseFormat: (b) => ({ ...b, responseFormat: { type: 'json_object' } }),
    images: (b) => ({
      ...b,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is in this picture?' }, { type: 'image_base64', mime: 'image/png', data: PNG_1PX }] }],
    }),
    penalties: (b) => ({ ...b, sampling: { ...b.sampling, presencePenalty: 0.5, frequencyPenalty: 0.5 } }),
    repetitionPenalty: (b) => ({ ...b, sampling: { ...b.sampling, repetitionPenalty: 1.3 } }),
    continuation: (b) => ({ ...b, messages: [...b.messages, { role: 'assistant', content: 'One, two,', prefix: true }] }),
  };
  for (const feature of Object.keys(featureBatches) as Array<keyof typeof featureBatches>) {
    add(`capabilities.${feature}`, `a request using ${feature} is served when declared and refused with bad_request when not`, withRunner(async (runner) => {
      const declared = typeof runner.capabilities === 'function' && runner.capabilities()[feature] === true;
      const batch = featureBatches[feature](makeBatch(`cap-${feature}`));
      let err: unknown;
      let chunks: TokenChunk[] = [];
      try {
        chunks = await collectChunks(await within(runner.execute(batch), 'execute()'), `${feature} stream`);
      } catch (e) {
        err = e;
      }
      if (err instanceof DeadlineError) throw err;
      if (declared) {
        if (err !== undefined) throw new Error(`${feature} is declared, but a request using it failed with ${describe(err)}`);
        if (!chunks.some((c) => c.finishReason !== undefined)) throw new Error(`${feature} is declared, but the request did not finish`);
      } else {
        if (err === undefined) throw new Error(`${feature} is not declared, but a request using it succeeded (it must be refused with bad_request, not ignored)`);
        if (!(InferenceError.isInstance(err) && err.kind === 'bad_request')) {
          throw new Error(`${feature} is not declared: expected bad_request, got ${describe(err)}`);
        }
      }
    }));
  }

  add('close.final', 'after close(), execute() and loadWeights() reject with cancelled; a second close() resolves', async () => {
    const runner = await within(Promise.resolve(options.create()), 'create()');
    if (typeof runner.close !== 'function') return;
    await within(runner.close(), 'close()');
    let err: unknown;
    try {
      const handle = await within(runner.execute(makeBatch('closed')), 'execute() after close()');
      await collectChunks(handle, 'stream after close()');
    } catch (e) {
      err = e;
    }
    if (err instanceof DeadlineError) throw err;
    if (!(InferenceError.isInstance(err) && err.kind === 'cancelled')) {
      throw new Error(`execute() after close() gave ${err === undefined ? 'a stream' : describe(err)}, expected InferenceError kind 'cancelled'`);
    }
    if (typeof runner.loadWeights === 'function') {
      let lerr: unknown;
      try {
        await within(runner.loadWeights({ kind: 'runtime_managed' }), 'loadWeights() after close()');
      } catch (e) {
        lerr = e;
      }
      if (lerr instanceof DeadlineError) throw lerr;
      if (!(InferenceError.isInstance(lerr) && lerr.kind === 'cancelled')) {
        throw new Error(`loadWeights() after close() gave ${lerr === undefined ? 'success' : describe(lerr)}, expected kind 'cancelled'`);
      }
    }
    await within(runner.close(), 'a second close()');
  });

  add('close.open-streams', 'close() with a stream open settles that stream (it ends or fails with an InferenceError; no hang)', async () => {
    const runner = await within(Promise.resolve(options.create()), 'create()');
    if (typeof runner.close !== 'function') return;
    const handle = await within(runner.execute(makeBatch('closing')), 'execute()');
    const it = handle[Symbol.asyncIterator]();
    await within(it.next(), 'first next()');
    const closing = runner.close();
    try {
      for (;;) {
        const r = await within(it.next(), 'next() after close()');
        if (r.done === true) break;
      }
    } catch (e) {
      if (e instanceof DeadlineError) throw e;
      if (!InferenceError.isInstance(e)) throw new Error(`the open stream failed with ${describe(e)}, not an InferenceError`);
    }
    await within(closing, 'close()');
  });

  add('rebuild-session.foreign-cause', 'rebuildSession() with a cause meant for another kind of runtime is a no-op: open streams finish untouched', withRunner(async (runner) => {
    const transport = runner.transportKind();
    const foreign = SESSION_REBUILD_CAUSES.filter((c) => !rebuildCauseApplies(c, transport));
    for (const cause of foreign) {
      const handle = await within(runner.execute(makeBatch('foreign')), 'execute()');
      const it = handle[Symbol.asyncIterator]();
      const first = await within(it.next(), 'first next()');
      await within(runner.rebuildSession(cause), `rebuildSession('${cause}')`);
      if (first.done === true || first.value.finishReason !== undefined) continue;
      let finished = false;
      try {
        for (;;) {
          const r = await within(it.next(), `next() after rebuildSession('${cause}')`);
          if (r.done === true) break;
          if (r.value.finishReason !== undefined) finished = true;
        }
      } catch (e) {
        if (e instanceof DeadlineError) throw e;
        throw new Error(`rebuildSession('${cause}') is meant for another kind of runtime, yet it broke an open stream: ${describe(e)}`);
      }
      if (!finished) throw new Error(`the stream open during rebuildSession('${cause}') did not finish`);
    }
  }));

  add('concurrency.isolated', 'concurrent requests each get their own complete stream', withRunner(async (runner) => {
    const n = caps.concurrency ?? 4;
    const batches = Array.from({ length: n }, () => makeBatch('par'));
    const results = await within(
      Promise.all(batches.map(async (b) => collectChunks(await runner.execute(b), `request ${b.requestId}`))),
      `${n} concurrent requests`,
    );
    results.forEach((chunks, i) => {
      const id = batches[i]!.requestId;
      if (chunks.length === 0) throw new Error(`request ${id} produced no chunks`);
      const foreign = chunks.find((c) => c.requestId !== id);
      if (foreign !== undefined) throw new Error(`request ${id} received a chunk of ${foreign.requestId}`);
      if (chunks.filter((c) => c.finishReason !== undefined).length !== 1) throw new Error(`request ${id} did not finish exactly once`);
    });
  }));

  return cases;
}

/** Options of `runnerFactoryConformanceCases`. */
export interface FactoryConformanceOptions<O> {
  /** The package's `runnerFactory`. */
  factory: RunnerFactory<O>;
  /** Options `create` must accept (the runner is closed again, nothing is loaded or sent). */
  options: O;
  /** Options that must be refused, each with the parameter `details.param` must name. */
  invalid?: Array<{ options: unknown; param: string }>;
  /** Deadline of each step (default 10 s). */
  timeoutMs?: number;
}

/**
 * Cases for a runner package's `runnerFactory` (ARCHITECTURE.md, "Runner shape"): it has a kind,
 * creates a well-formed runner from valid options, and refuses unknown keys, non-object options
 * and the given invalid options with `bad_request` naming the parameter.
 */
export function runnerFactoryConformanceCases<O>(options: FactoryConformanceOptions<O>): ConformanceCase[] {
  const ms = options.timeoutMs ?? 10_000;
  const factory = options.factory;
  const cases: ConformanceCase[] = [];
  const add = (id: string, what: string, run: () => Promise<void>): void => {
    cases.push({ id, name: `${id}: ${what}`, run });
  };
  const refusal = async (input: unknown, param: string, what: string): Promise<void> => {
    let err: unknown;
    let made: ModelRunner | undefined;
    try {
      made = await deadline(Promise.resolve(factory.create(input as O)), ms, `create(${what})`);
    } catch (e) {
      err = e;
    }
    if (made !== undefined) {
      await made.close?.().catch(() => undefined);
      throw new Error(`create(${what}) succeeded; expected bad_request naming '${param}'`);
    }
    if (err instanceof DeadlineError) throw err;
    if (!(InferenceError.isInstance(err) && err.kind === 'bad_request')) throw new Error(`create(${what}) failed with ${describe(err)}, expected kind 'bad_request'`);
    const got = (err.details as { param?: unknown }).param;
    if (got !== param) throw new Error(`create(${what}) named ${describe(got)} in details.param, expected '${param}'`);
  };
  add('factory.shape', 'runnerFactory has a non-empty kind and a create() function', async () => {
    if (typeof factory !== 'object' || factory === null) throw new Error(`runnerFactory is ${describe(factory)}`);
    if (typeof factory.kind !== 'string' || factory.kind === '') throw new Error(`runnerFactory.kind is ${describe(factory.kind)}`);
    if (typeof factory.create !== 'function') throw new Error('runnerFactory.create is not a function');
  });
  add('factory.creates', 'create(valid options) returns a ModelRunner', async () => {
    const runner = await deadline(Promise.resolve(factory.create(options.options)), ms, 'create(valid options)');
    try {
      if (typeof runner?.execute !== 'function' || typeof runner.rebuildSession !== 'function') throw new Error(`create() returned ${describe(runner)}`);
      if (typeof runner.runtimeKind !== 'function' || typeof runner.transportKind !== 'function') throw new Error('the runner lacks runtimeKind()/transportKind()');
    } finally {
      await runner?.close?.().catch(() => undefined);
    }
  });
  add('factory.unknown-key', 'an unknown option key is refused with bad_request naming it', async () => {
    const base = (typeof options.options === 'object' && options.options !== null ? options.options : {}) as Record<string, unknown>;
    await refusal({ ...base, notAnOption: 1 }, 'notAnOption', '{ ...valid, notAnOption: 1 }');
  });
  add('factory.not-an-object', 'options that are not an object are refused with bad_request', async () => {
    await refusal(42, 'options', '42');
  });
  (options.invalid ?? []).forEach((c, i) => {
    add(`factory.invalid-${i + 1}`, `invalid options are refused with bad_request naming '${c.param}'`, async () => {
      await refusal(c.options, c.param, JSON.stringify(c.options) ?? String(c.options));
    });
  });
  return cases;
}

// A 1×1 transparent PNG, for the images capability case.
const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

function checkHandle(handle: unknown): asserts handle is RunHandle {
  const h = handle as RunHandle;
  if (typeof h !== 'object' || h === null) throw new Error(`execute() resolved to ${describe(handle)}`);
  if (typeof h[Symbol.asyncIterator] !== 'function') throw new Error('the handle is not async-iterable');
  if (typeof h.cancel !== 'function' || typeof h.collect !== 'function') throw new Error('the handle lacks cancel()/collect()');
}

class DeadlineError extends Error {}

function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`${what} did not settle within ${ms} ms (hang?)`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

function describe(v: unknown): string {
  if (InferenceError.isInstance(v)) return `InferenceError(${v.kind}: ${v.message})`;
  if (v instanceof Error) return `${v.name}(${v.message})`;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
