import { randomInt } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  InferenceError,
  isInferenceErrorKind,
  rebuildCauseApplies,
  RunHandle,
  validateBatch,
  type RunHandleController,
  type ExecuteBatch,
  type ExecuteOptions,
  type FinishReason,
  type LoadWeightsOptions,
  type ModelRunner,
  type RunnerCapabilities,
  type RunnerFactory,
  type RuntimeKind,
  type SessionRebuildCause,
  type ToolDefinition,
  type TransportKind,
  type WeightSource,
} from '@inferkit/inference-core';
import type { AddonEngineInfo, AddonLoadOptions, AddonModule, AddonRequestId, AddonSubmitRequest, AddonTokenEvent } from './binding/addon-types.js';
import type { NativeBinaryInfo } from './binding/choose-binary.js';
import { loadBinding } from './binding/load-binding.js';
import type { BinaryVerdict } from './binding/test-binary.js';
import { chatMessages, type TemplateTool } from './chat/chat-prompt.js';
import { OutputPlanner, type OutputPlan } from './grammar/output-plan.js';
import type { VocabularyBytes } from './grammar/vocabulary-bytes.js';
import { InProcessEngine, type EngineHandle, type EngineProgress } from './host/engine-handle.js';
import { EngineProcess } from './host/engine-process.js';
import { PromptPreparer } from './prompt/prompt-preparer.js';
import { deviceName, pinnedVisibleDevices, resolveCudaRunnerOptions, type CudaRunnerOptions, type ResolvedCudaRunnerOptions } from './cuda-runner-options.js';
import { ggufSamplingDefaults, readSamplingDefaults, type SamplingDefaults } from './sampling-defaults.js';
import { ChunkAssembler } from './stream/chunk-assembler.js';
import type { TokenDecoder } from './tokenizer/incremental-detokenizer.js';
import { newToolCallId } from './tools/tool-call-format.js';
import { withVisibleToken } from './tools/with-visible-token.js';
import { ToolCallParser } from './tools/tool-call-parser.js';
import { ModelTokenizer } from './tokenizer/model-tokenizer.js';

import { readGgufMetadata } from './weights/gguf-metadata.js';
import { resolveWeightSource, type ResolvedWeights } from './weights/resolve-weight-source.js';

const PROVIDER = 'cuda';
const LABEL = 'CudaRunner';
// Continuation of a final assistant prefix message, exact by token ids; presence, frequency and
// repetition penalties in the engine's samplers (CPU and CUDA); response formats (grammars the
// samplers' token masks enforce). Tools depend on the loaded model's chat template
// (capabilities() says whether it renders them in a call format we parse); execute() lets them
// through validateBatch so that a model without them refuses with the reason (OutputPlanner).
const CAPABILITIES: RunnerCapabilities = Object.freeze({ continuation: true, tokenIds: true, penalties: true, repetitionPenalty: true, responseFormat: true });
const EXECUTE_CAPABILITIES: RunnerCapabilities = Object.freeze({ ...CAPABILITIES, tools: true });
// The engine's bounds (kMinRepetitionPenalty, kMaxRepetitionPenalty in native/engine/sampling.h).
const MIN_REPETITION_PENALTY = 1e-3;
const MAX_REPETITION_PENALTY = 1e3;
// Prompt tokens the detokenizer of a continuation starts from, so that its first token decodes as
// it did in the run being continued (SentencePiece drops the leading space of a first token).
const CONTINUATION_CONTEXT_TOKENS = 6;
// For tokenizers that can shrink text without bound (no promptBytesPerToken), the cheap length
// check still refuses prompts of more than this many bytes per context position.
const FALLBACK_BYTES_PER_TOKEN = 64;

/** Everything that exists only while a model is loaded. */
interface LoadedModel {
  engine: EngineHandle;
  info: AddonEngineInfo;
  modelDir: string;
  tokenizer: ModelTokenizer;
  /** Renders and tokenizes prompts off the event loop. */
  prompts: PromptPreparer;
  defaults: SamplingDefaults;
  stopTokenIds: Int32Array;
  /** Grammars for response formats and tool calls, from the model's template and vocabulary. */
  output: OutputPlanner;
}

/** Wraps an error thrown or rejected by the addon (an `Error` with an `InferenceError` kind). */
function fromAddonError(e: unknown, requestId?: string): InferenceError {
  if (InferenceError.isInstance(e)) return e;
  const kind = (e as { kind?: unknown } | null)?.kind;
  const message = (e as Error | null)?.message ?? String(e);
  return new InferenceError(isInferenceErrorKind(kind) ? kind : 'internal', message, { cause: e, provider: PROVIDER, requestId });
}

function closedError(requestId?: string): InferenceError {
  return new InferenceError('cancelled', 'the CudaRunner was closed', { details: { reason: 'close' }, provider: PROVIDER, ...(requestId !== undefined ? { requestId } : {}) });
}

/**
 * Issue #11 item 15: NaN weights used to give empty output and no error. One forward of one
 * token at load finds a NaN or infinity in any weight every token passes through (norms,
 * attention, MLP, a whole lm_head row); a NaN elsewhere (one embedding row) is caught by the
 * engine, which fails a request whose logits are not finite with `internal`.
 */
async function refuseNonFiniteWeights(engine: EngineHandle): Promise<void> {
  let logits: Float32Array;
  try {
    logits = await engine.logits(Int32Array.of(engine.info.bosTokenId ?? 0));
  } catch (e) {
    await engine.close().catch(() => undefined);
    throw fromAddonError(e);
  }
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v) || v === Infinity) {
      await engine.close().catch(() => undefined);
      throw new InferenceError('bad_request', `the weights produce non-finite logits (${String(v)} for token ${i}): the checkpoint holds NaN or infinite values`, {
        details: { param: 'source' },
        provider: PROVIDER,
      });
    }
  }
}

/** Ends everything a loaded model holds: open requests fail with `cancelled`. */
async function closeModel(model: LoadedModel): Promise<void> {
  await Promise.all([model.prompts.close(), model.engine.close()]);
}

function weightBytes(weights: ResolvedWeights): number {
  if (weights.format === 'gguf') return statSync(weights.file).size;
  let total = 0;
  for (const f of readdirSync(weights.dir)) if (f.endsWith('.safetensors')) total += statSync(join(weights.dir, f)).size;
  return total;
}

/** The tokenizer and sampling defaults that come with the weights. */
async function readModelFiles(weights: ResolvedWeights): Promise<{ tokenizer: ModelTokenizer; defaults: SamplingDefaults }> {
  if (weights.format === 'safetensors') {
    return { tokenizer: await ModelTokenizer.fromDirectory(weights.dir), defaults: await readSamplingDefaults(weights.dir) };
  }
  const meta = await readGgufMetadata(weights.file);
  return { tokenizer: await ModelTokenizer.fromGguf(meta), defaults: ggufSamplingDefaults(meta) };
}

/**
 * `ModelRunner` over the native engine: Llama-family Hugging Face checkpoints (safetensors) or
 * GGUF files on a CUDA device or the CPU. The engine runs continuous batching on its own thread;
 * this class owns tokenization (converted from the GGUF metadata for GGUF files), chat templates,
 * stop strings, UTF-8-safe detokenization and weight resolution.
 *
 * ```ts
 * const runner = new CudaRunner({ device: 'auto' });
 * await runner.loadWeights({ kind: 'hugging_face', repo: 'Qwen/Qwen2.5-0.5B-Instruct' });
 * const out = await (await runner.execute(batch)).collect();
 * ```
 */
export class CudaRunner implements ModelRunner {
  private readonly options: ResolvedCudaRunnerOptions;
  private model: LoadedModel | null;
  private binding: AddonModule | null;
  private verdict: BinaryVerdict | null;
  private binary: NativeBinaryInfo | null;
  // Serializes loadWeights / rebuildSession / close so they never interleave.
  private lifecycle: Promise<unknown>;
  // Set by close(): final, every later call is refused with `cancelled`.
  private closed: boolean;

  /**
   * @throws InferenceError (`bad_request`, `details.param` naming the option) for invalid or
   *   unknown options or an invalid `INFERKIT_DEVICE`.
   */
  constructor(options?: CudaRunnerOptions) {
    this.options = resolveCudaRunnerOptions(options);
    this.model = null;
    this.binding = null;
    this.verdict = null;
    this.binary = null;
    this.lifecycle = Promise.resolve();
    this.closed = false;
  }

  runtimeKind(): RuntimeKind {
    return 'cuda';
  }

  /**
   * The device actually in use once weights are loaded (`'cuda:N'` when pinned); before that, the
   * requested one (`'cpu'` for `auto`).
   */
  transportKind(): TransportKind {
    const kind = this.model?.info.device ?? (this.options.device === 'auto' ? 'cpu' : this.options.device);
    return { kind: 'local', device: deviceName(kind, this.options.deviceIndex) };
  }

  /**
   * What requests may use; everything else is refused with `bad_request`. `tools` is declared
   * while a model whose chat template renders tools (in a call format we parse) is loaded.
   */
  capabilities(): RunnerCapabilities {
    return this.model?.output.toolCallFormat !== undefined ? EXECUTE_CAPABILITIES : CAPABILITIES;
  }

  gilPinned(): boolean {
    return false;
  }

  /** The loaded model's engine description (device, shape, limits); `undefined` before loading. */
  get modelInfo(): Readonly<AddonEngineInfo> | undefined {
    return this.model?.info;
  }

  /**
   * The native addon in use (a prebuilt platform package, a local build, or the `binaryPath`
   * option), and why the other candidates were not chosen; `undefined` before the first
   * `loadWeights`. `NODE_DEBUG=inferkit` logs the same when it is chosen.
   */
  get binaryInfo(): Readonly<NativeBinaryInfo> | undefined {
    return this.binary ?? undefined;
  }

  /** @internal The engine (in this process or a child), for parity tests and benchmarks only. */
  get _engine(): EngineHandle | undefined {
    return this.model?.engine;
  }

  /** @internal The loaded model's response-format and tool grammars, for benchmarks. */
  get _output(): OutputPlanner | undefined {
    return this.model?.output;
  }

  /** @internal The loaded tokenizer, for tests. */
  get _tokenizer(): ModelTokenizer | undefined {
    return this.model?.tokenizer;
  }

  loadWeights(source: WeightSource, options: LoadWeightsOptions = {}): Promise<void> {
    return this.serialize(() => {
      if (this.closed) throw closedError();
      return this.doLoad(source, options);
    });
  }

  private async doLoad(source: WeightSource, options: LoadWeightsOptions): Promise<void> {
    const { signal, onProgress } = options;
    const aborted = () => new InferenceError('cancelled', 'loadWeights aborted', { provider: PROVIDER });
    if (signal?.aborted) throw aborted();
    const weights = await resolveWeightSource(source, { signal, onProgress });
    // The engine takes a checkpoint directory or a .gguf file in the same option.
    const modelDir = weights.format === 'gguf' ? weights.file : weights.dir;
    const { tokenizer, defaults } = await readModelFiles(weights);
    if (signal?.aborted) throw aborted();
    // Loads the tokenizer again in a prompt worker process and probes the chat template there.
    const prompts = await PromptPreparer.start(tokenizer.origin);
    try {
      await this.loadEngine(weights, modelDir, tokenizer, defaults, prompts, options);
    } catch (e) {
      await prompts.close();
      throw e;
    }
  }

  private async loadEngine(
    weights: ResolvedWeights,
    modelDir: string,
    tokenizer: ModelTokenizer,
    defaults: SamplingDefaults,
    prompts: PromptPreparer,
    { signal, onProgress }: LoadWeightsOptions,
  ): Promise<void> {
    const aborted = () => new InferenceError('cancelled', 'loadWeights aborted', { provider: PROVIDER });
    if (signal?.aborted) throw aborted();
    const binding = await this.ensureBinding();
    const previous = this.model;
    this.model = null;
    if (previous !== null) await closeModel(previous).catch(() => undefined);

    const totalBytes = weightBytes(weights);
    // Engine progress arrives through a thread-safe function, so a report can land after load()
    // resolved; those are dropped and the completed load is reported once, last.
    let loading = true;
    let reported = -1;
    const report = (loadedBytes: number) => {
      if (loadedBytes <= reported) return;
      reported = loadedBytes;
      try {
        onProgress?.({ phase: 'load', loadedBytes, totalBytes, file: modelDir });
      } catch {
        // A throwing progress callback must not abort the native load.
      }
    };
    const progress = onProgress
      ? (p: { fraction: number; stage: string }) => {
          if (loading) report(Math.round(Math.min(1, Math.max(0, p.fraction)) * totalBytes));
        }
      : undefined;
    let engine: EngineHandle;
    try {
      engine = await this.loadOnDevice(binding, modelDir, tokenizer.vocabularyBytes(), progress, signal);
    } finally {
      loading = false;
    }
    const info = engine.info;
    if (signal?.aborted) {
      await engine.close().catch(() => undefined);
      throw aborted();
    }
    await refuseNonFiniteWeights(engine);
    report(totalBytes);
    const stops = new Set<number>([...info.eosTokenIds, ...tokenizer.stopTokenIds]);
    const specialTokenId = (text: string) => {
      const id = tokenizer.tokenId(text);
      return id !== undefined && tokenizer.isSpecialToken(id) ? id : undefined;
    };
    const output = new OutputPlanner(tokenizer.chatTemplate, specialTokenId);
    this.model = { engine, info, modelDir, tokenizer, prompts, defaults, stopTokenIds: Int32Array.from(stops), output };
  }

  private async ensureBinding(): Promise<AddonModule> {
    if (this.binding !== null) return this.binding;
    const { module, verdict, info } = await loadBinding(this.options.binaryPath);
    this.binding = module;
    this.verdict = verdict;
    this.binary = info;
    return module;
  }

  private async loadOnDevice(
    binding: AddonModule,
    modelDir: string,
    vocabulary: VocabularyBytes,
    progress: EngineProgress | undefined,
    signal: AbortSignal | undefined,
  ): Promise<EngineHandle> {
    const o = this.options;
    const verdict = this.verdict!;
    const base = { modelDir, threads: o.threads, maxBatch: o.maxBatch, maxSeqLen: o.maxSeqLen, prefixCache: o.prefixCache, convertAtLoad: o.convertAtLoad, vocabulary };
    const load = async (device: 'cpu' | 'cuda'): Promise<EngineHandle> => {
      const options: AddonLoadOptions = { ...base, device };
      const inChild = o.engineProcess === 'child' || (o.engineProcess === 'auto' && device === 'cuda');
      try {
        if (inChild) {
          // A pinned engine process sees its one device as device 0.
          const env = device === 'cuda' && o.deviceIndex !== undefined ? { ...process.env, CUDA_VISIBLE_DEVICES: pinnedVisibleDevices(o.deviceIndex) } : undefined;
          return await EngineProcess.start(this.binary!.path, options, progress, { signal, env });
        }
        return await InProcessEngine.load(new binding.Engine(), options, progress);
      } catch (e) {
        throw fromAddonError(e);
      }
    };
    if (o.device === 'cpu') return load('cpu');
    if (o.device === 'cuda') {
      const name = deviceName('cuda', o.deviceIndex);
      if (!verdict.cudaUsable) {
        throw new InferenceError('bad_request', `device '${name}' requested but CUDA is unusable: ${verdict.cudaReason}`, {
          details: { param: 'device' },
          provider: PROVIDER,
        });
      }
      if (o.deviceIndex !== undefined && o.deviceIndex >= verdict.cudaDeviceCount) {
        throw new InferenceError('bad_request', `device '${name}' requested but this process sees ${verdict.cudaDeviceCount} CUDA device(s)`, {
          details: { param: 'device' },
          provider: PROVIDER,
        });
      }
      return load('cuda');
    }
    if (!verdict.cudaUsable) return load('cpu');
    try {
      return await load('cuda');
    } catch (e) {
      // The checkpoint itself is at fault (the CPU would reject it the same way), or the caller aborted.
      if (InferenceError.isInstance(e) && (e.kind === 'bad_request' || e.kind === 'not_found' || e.kind === 'cancelled')) throw e;
      return load('cpu');
    }
  }

  async execute(batch: ExecuteBatch, options: ExecuteOptions = {}): Promise<RunHandle> {
    validateBatch(batch, { label: LABEL, capabilities: EXECUTE_CAPABILITIES });
    const requestId = batch.requestId;
    if (this.closed) throw closedError(requestId);
    const model = this.model;
    if (model === null) {
      throw new InferenceError('bad_request', 'no model loaded: call loadWeights() first', { requestId, provider: PROVIDER });
    }
    if (options.signal?.aborted) {
      throw new InferenceError('cancelled', 'aborted before the request started', { requestId, provider: PROVIDER });
    }
    const s = batch.sampling ?? {};
    if (s.seed !== undefined && s.seed < 0) {
      // The engine's seed is unsigned; a negative one would wrap silently.
      throw new InferenceError('bad_request', `${LABEL}: sampling.seed must be >= 0`, { details: { param: 'sampling.seed' }, requestId, provider: PROVIDER });
    }
    const rp = s.repetitionPenalty;
    if (rp !== undefined && (rp < MIN_REPETITION_PENALTY || rp > MAX_REPETITION_PENALTY)) {
      // The engine divides logits by it: bounded so that they stay finite.
      throw new InferenceError('bad_request', `${LABEL}: sampling.repetitionPenalty must be in [${MIN_REPETITION_PENALTY}, ${MAX_REPETITION_PENALTY}]`, {
        details: { param: 'sampling.repetitionPenalty' },
        requestId,
        provider: PROVIDER,
      });
    }
    const messages = chatMessages(batch.messages, requestId);
    const continuing = messages[messages.length - 1]!.prefix === true;
    // Response format and tools: the grammar the output must follow, the tools for the template.
    const plan = model.output.plan(batch);
    if (plan.grammar !== undefined && continuing) {
      throw new InferenceError('bad_request', `${LABEL}: a continuation (prefix message) cannot be combined with responseFormat or tools`, {
        details: { param: batch.responseFormat !== undefined && batch.responseFormat.type !== 'text' ? 'responseFormat' : 'tools' },
        requestId,
        provider: PROVIDER,
      });
    }
    const continuationIds = batch.continuationTokenIds;
    if (continuationIds !== undefined) {
      const bad = continuationIds.findIndex((t) => t >= model.info.vocabSize);
      if (bad >= 0) {
        throw new InferenceError('bad_request', `${LABEL}: continuationTokenIds[${bad}] is not a token id of this model (vocabulary of ${model.info.vocabSize})`, {
          details: { param: 'continuationTokenIds' },
          requestId,
          provider: PROVIDER,
        });
      }
    }
    const limit = model.info.maxSeqLen;
    // Issue #11 item 7: tokenizing (and rendering) takes time that grows with the prompt. First a
    // check that costs nothing: a prompt of B bytes is at least B / bytesPerToken tokens. (The
    // text of a message continued by token ids is not tokenized: its ids count instead.)
    const bytesPerToken = model.prompts.promptBytesPerToken ?? FALLBACK_BYTES_PER_TOKEN;
    const fixedTokens = continuationIds?.length ?? 0;
    let textBytes = 0;
    for (let i = 0; i < messages.length - (continuationIds !== undefined ? 1 : 0); i++) textBytes += Buffer.byteLength(messages[i]!.content, 'utf8');
    const atLeast = Math.floor(textBytes / bytesPerToken) + fixedTokens;
    if (atLeast + (s.maxTokens ?? 1) > limit) {
      throw new InferenceError(
        'context_length_exceeded',
        `the prompt (${textBytes} bytes of text, so at least ${atLeast} tokens) + maxTokens (${s.maxTokens ?? 1}) exceeds the context of ${limit} tokens`,
        { details: { maxContextTokens: limit, requestedTokens: atLeast + (s.maxTokens ?? 1) }, requestId, provider: PROVIDER },
      );
    }
    // Then the template and the tokenizer, in a prompt worker process.
    const promptIds = await model.prompts.prepare(messages, {
      ...(continuationIds !== undefined ? { continuationTokenIds: continuationIds } : {}),
      ...(plan.templateTools !== undefined ? { tools: plan.templateTools.map(templateTool) } : {}),
      maxPromptBytes: (limit - fixedTokens) * bytesPerToken,
      maxContextTokens: limit,
      requestId,
      signal: options.signal,
    });
    if (this.closed) throw closedError(requestId);
    if (this.model !== model) {
      throw new InferenceError('cancelled', 'the model was replaced (loadWeights) while the prompt was prepared', { requestId, provider: PROVIDER });
    }
    if (promptIds.length === 0) {
      throw new InferenceError('bad_request', 'the prompt encodes to no tokens', { details: { param: 'messages' }, requestId });
    }
    const maxTokens = s.maxTokens ?? limit - promptIds.length;
    if (maxTokens < 1 || promptIds.length + maxTokens > limit) {
      throw new InferenceError(
        'context_length_exceeded',
        `prompt (${promptIds.length} tokens) + maxTokens (${s.maxTokens ?? 1}) exceeds the context of ${limit} tokens`,
        { details: { maxContextTokens: limit, requestedTokens: promptIds.length + Math.max(1, maxTokens) }, requestId, provider: PROVIDER },
      );
    }
    const temperature = s.temperature ?? model.defaults.temperature;
    const request: AddonSubmitRequest = {
      tokens: promptIds,
      temperature,
      topK: s.topK ?? model.defaults.topK,
      topP: s.topP ?? model.defaults.topP,
      // Unseeded sampling must differ between calls; the engine's own default seed is fixed.
      seed: s.seed ?? randomInt(0, 2 ** 47),
      ...(s.presencePenalty !== undefined ? { presencePenalty: s.presencePenalty } : {}),
      ...(s.frequencyPenalty !== undefined ? { frequencyPenalty: s.frequencyPenalty } : {}),
      ...(s.repetitionPenalty !== undefined ? { repetitionPenalty: s.repetitionPenalty } : {}),
      maxTokens,
      stopTokenIds: model.stopTokenIds,
      ...(plan.grammar !== undefined ? { grammar: plan.grammar } : {}),
    };
    const engine = model.engine;
    // Set right after submit(): the addon calls back through a thread-safe function, so no event
    // can arrive while submit() is still running.
    let deliver: ((ev: AddonTokenEvent) => void) | undefined;
    let id: AddonRequestId;
    try {
      id = engine.submit(request, (ev) => deliver!(ev));
    } catch (e) {
      throw fromAddonError(e, requestId);
    }
    const stopEngine = () => engine.cancel(id);
    const { handle, controller } = RunHandle.pushable(stopEngine, { signal: options.signal, requestId });
    const context = continuing ? Array.from(promptIds.subarray(Math.max(0, promptIds.length - CONTINUATION_CONTEXT_TOKENS))) : [];
    const decoder = toolCallDecoder(model, plan.toolCalls);
    deliver = this.chunkPusher(model, requestId, controller, promptIds.length, new ChunkAssembler(decoder, s.stop ?? [], context), stopEngine, plan.toolCalls);
    return handle;
  }

  /**
   * Turns the engine's token events into chunks on `controller`, each with the `tokenIds` of the
   * tokens whose text it holds (`ChunkAssembler`; an end-of-sequence token holds no text and is
   * in no chunk, though usage counts it). Pushes ignore backpressure on purpose: the engine
   * cannot pause one request, and chunks are small and bounded by maxTokens.
   */
  private chunkPusher(
    model: LoadedModel,
    requestId: string,
    controller: RunHandleController,
    promptTokens: number,
    assembler: ChunkAssembler,
    stopEngine: () => void,
    toolCalls: OutputPlan['toolCalls'],
  ): (ev: AddonTokenEvent) => void {
    const stopIds = new Set(model.stopTokenIds);
    let generated = 0;
    let cachedTokens: number | undefined;
    let done = false;
    const usage = () => (cachedTokens !== undefined ? { inputTokens: promptTokens, outputTokens: generated, cachedTokens } : { inputTokens: promptTokens, outputTokens: generated });
    // With tools, text goes through the call parser. Its chunks carry no tokenIds: their text
    // is no longer what the tokens decode to (calls become toolCallDeltas).
    const parser = toolCalls !== undefined ? new ToolCallParser(toolCalls.format, toolCalls.mode, () => newToolCallId(toolCalls.format)) : undefined;
    const emit = (text: string, ids: number[]): void => {
      if (parser === undefined) {
        if (ids.length > 0) controller.push({ requestId, textDelta: text, tokenIds: ids });
        return;
      }
      for (const p of parser.push(text)) {
        controller.push('text' in p ? { requestId, textDelta: p.text } : { requestId, textDelta: '', toolCallDelta: p.call });
      }
    };
    const end = (out: { text: string; ids: number[] }, finishReason: 'stop' | 'length', rawFinishReason: string): void => {
      done = true;
      let reason: FinishReason = finishReason;
      let last: { textDelta: string; tokenIds?: number[] } = { textDelta: out.text, tokenIds: out.ids };
      if (parser !== undefined) {
        emit(out.text, out.ids);
        last = { textDelta: parser.end().map((p) => ('text' in p ? p.text : '')).join('') };
        if (parser.calls > 0 && finishReason === 'stop') reason = 'tool_calls';
      }
      controller.push({ requestId, ...last, finishReason: reason, rawFinishReason, usage: usage() });
      controller.end();
    };
    const onEvent = (ev: AddonTokenEvent): void => {
      if (ev.finishReason === 'error') {
        const err = ev.error;
        done = true;
        controller.fail(
          new InferenceError(err && isInferenceErrorKind(err.kind) ? err.kind : 'internal', err?.message ?? 'engine error', {
            // The engine host adds typed details (exit code, signal, stderr tail of a crashed child).
            details: err?.details as never,
            requestId,
            provider: PROVIDER,
          }),
        );
        return;
      }
      if (ev.finishReason === 'cancelled') {
        done = true;
        controller.fail(
          new InferenceError('cancelled', 'the engine cancelled the request (runner closed, reloaded or rebuilt)', { requestId, provider: PROVIDER }),
        );
        return;
      }
      if (ev.cachedTokens !== undefined) cachedTokens = ev.cachedTokens;
      const tokens = ev.tokens;
      // The engine reports the stop token itself; it is never part of the text.
      const textEnd = ev.finishReason === 'stop' && tokens.length > 0 && stopIds.has(tokens[tokens.length - 1]!) ? tokens.length - 1 : tokens.length;
      // One token at a time: chunk boundaries then follow tokens, not the engine's delivery
      // batches, which grow whenever the event loop is busy.
      for (let i = 0; i < tokens.length; i++) {
        generated++;
        if (i >= textEnd) continue;
        const out = assembler.push(tokens[i]!);
        if (out.stopped) {
          stopEngine();
          end(out, 'stop', 'stop_string');
          return;
        }
        emit(out.text, out.ids);
      }
      if (ev.finishReason !== undefined) {
        const out = assembler.finish();
        end(out, out.stopped || ev.finishReason !== 'length' ? 'stop' : 'length', out.stopped ? 'stop_string' : ev.finishReason);
      }
    };
    return (ev) => {
      // After a stop string, an engine failure or a cancel (the hook already stopped the engine)
      // the request's remaining events carry nothing for the consumer.
      if (done || controller.signal.aborted) return;
      try {
        onEvent(ev);
      } catch (e) {
        // A throw here would escape into the addon's callback and take the process down.
        if (!done && ev.finishReason === undefined) stopEngine();
        done = true;
        controller.fail(e);
      }
    };
  }

  /**
   * Recovers the engine: tears the backend down (poisoned, crashed or not), fails in-flight
   * requests and reloads the weights with the same options. An engine in a child process gets a new
   * process. Remote-only causes are no-ops for a local engine.
   */
  rebuildSession(cause: SessionRebuildCause): Promise<void> {
    return this.serialize(async () => {
      if (this.closed) throw closedError();
      if (!rebuildCauseApplies(cause, this.transportKind())) return;
      const model = this.model;
      if (model === null) return;
      try {
        await model.engine.rebuild();
      } catch (e) {
        throw fromAddonError(e);
      }
    });
  }

  /**
   * Cancels in-flight requests (they fail with `cancelled`) and releases the engine. Final: later
   * `execute`, `loadWeights` and `rebuildSession` calls are refused with `cancelled`; a second
   * `close()` resolves.
   */
  close(): Promise<void> {
    // Set at once, not when the queued close runs: nothing may start after close() was called.
    this.closed = true;
    return this.serialize(async () => {
      const model = this.model;
      this.model = null;
      if (model !== null) await closeModel(model);
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(fn, fn);
    this.lifecycle = run.catch(() => undefined);
    return run;
  }
}

/**
 * The registry entry a gateway config (`"runner": "@inferkit/runner-cuda"`) loads: `create`
 * validates the options exactly as `new CudaRunner(options)` does. The runner still needs
 * `loadWeights()` before it serves.
 */
export const runnerFactory: RunnerFactory<CudaRunnerOptions | undefined> = {
  kind: 'cuda',
  create: (options) => new CudaRunner(options),
};

function templateTool(t: ToolDefinition): TemplateTool {
  return { type: 'function', function: { name: t.name, ...(t.description !== undefined ? { description: t.description } : {}), parameters: t.parameters } };
}

/** The decoder for a reply's text (`withVisibleToken` for a tool-call trigger that is a control token). */
function toolCallDecoder(model: LoadedModel, toolCalls: OutputPlan['toolCalls']): TokenDecoder {
  const trigger = toolCalls?.format.trigger;
  const id = trigger !== undefined ? model.output.specialTokenId(trigger) : undefined;
  return id === undefined ? model.tokenizer : withVisibleToken(model.tokenizer, id, trigger!);
}
