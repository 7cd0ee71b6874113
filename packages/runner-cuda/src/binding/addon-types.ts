/**
 * The native addon's JS surface, typed by hand one for one with `native/addon/`
 * (see `native/addon/README.md`). Nothing here is public API: `CudaRunner` keeps the engine in an
 * internal field so users never touch raw addon objects.
 * @internal
 * @module
 */

declare const engineIdBrand: unique symbol;

/** Request id returned by `AddonEngine.submit`; opaque outside the engine. @internal */
export type AddonRequestId = number & { readonly [engineIdBrand]: true };

/** Device names the engine accepts. @internal */
export type AddonDevice = 'cpu' | 'cuda' | 'auto';

/** @internal */
export interface AddonLoadOptions {
  /** A Hugging Face checkpoint directory, or a `.gguf` file. */
  modelDir: string;
  device?: AddonDevice;
  threads?: number;
  maxBatch?: number;
  maxSeqLen?: number;
  /** Reuse the KV cache of shared prompt prefixes (default true). */
  prefixCache?: boolean;
  /** `true`: F16/BF16 matrices to F32 at load; `'q8_0'`: F32/F16/BF16 matrices to Q8_0 blocks. */
  convertAtLoad?: boolean | 'q8_0';
  /**
   * Every token's bytes, for constrained decoding (`AddonSubmitRequest.grammar`): token `i` is
   * `bytes[offsets[i], offsets[i + 1])`; `special[i]` marks control tokens.
   */
  vocabulary?: { bytes: Uint8Array; offsets: Uint32Array; special?: Uint8Array };
}

/** Load progress as reported by the engine. @internal */
export interface AddonLoadProgress {
  /** In [0, 1]. */
  fraction: number;
  /** Short stage name: `'config'`, `'weights'`, `'backend'`. */
  stage: string;
}

/** What a successful `load()` resolves to. @internal */
export interface AddonEngineInfo {
  device: 'cpu' | 'cuda';
  deviceDescription: string;
  arch: string;
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  maxBatch: number;
  maxSeqLen: number;
  threads: number;
  /** Stored types of the weight matrices, most bytes first, joined by `+` (`'Q4_K+Q6_K'`). */
  weightDtype: string;
  eosTokenIds: number[];
  bosTokenId: number | null;
  tieWordEmbeddings: boolean;
  memoryBytes: number;
}

/** @internal */
export interface AddonEngineStats {
  loaded: boolean;
  poisoned: boolean;
  activeSequences: number;
  queuedSequences: number;
  steps: number;
  promptTokens: number;
  generatedTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  /** Prompt tokens taken from the prefix cache instead of being computed (not in promptTokens). */
  cachedPromptTokens: number;
  /** KV cache blocks of 16 positions: the pool, held by running sequences, cached for reuse. */
  kvBlocks: number;
  kvBlocksInUse: number;
  kvBlocksCached: number;
  /** Cached blocks taken for new content. */
  kvEvictions: number;
  memoryBytes: number;
}

/** @internal */
export interface AddonSubmitRequest {
  tokens: Int32Array;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  /** OpenAI's, over the generated tokens; in [-2, 2]. */
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** transformers' rule over prompt and generated tokens; in [1e-3, 1e3], 1 = off. */
  repetitionPenalty?: number;
  maxTokens?: number;
  stopTokenIds?: Int32Array;
  /** A serialized grammar (`GrammarBuilder.build`) every sampled token must follow. */
  grammar?: Int32Array;
}

/** Finish reasons the engine reports. @internal */
export type AddonFinishReason = 'stop' | 'length' | 'cancelled' | 'error';

/**
 * One delivery for a request: tokens generated since the previous event, and on the last event
 * the finish reason. Exactly one event carries `finishReason`; nothing follows it.
 * @internal
 */
export interface AddonTokenEvent {
  tokens: Int32Array;
  /**
   * Prompt tokens whose KV cache came from the prefix cache instead of being computed; on every
   * event once the request has a slot (so with its first tokens).
   */
  cachedTokens?: number;
  finishReason?: AddonFinishReason;
  error?: { kind: string; message: string; details?: Record<string, unknown> };
}

/** Errors thrown or rejected by the addon carry an `InferenceError` kind. @internal */
export interface AddonError extends Error {
  kind?: string;
}

/** @internal */
export interface AddonEngine {
  load(options: AddonLoadOptions, onProgress?: (progress: AddonLoadProgress) => void): Promise<AddonEngineInfo>;
  submit(request: AddonSubmitRequest, onEvent: (event: AddonTokenEvent) => void): AddonRequestId;
  cancel(id: AddonRequestId): void;
  stats(): AddonEngineStats;
  /** All rows: `tokens.length × vocabSize` f32 logits. */
  logits(tokens: Int32Array): Promise<Float32Array>;
  rebuild(): Promise<void>;
  /** Test-only fault hook. */
  injectFault(kind: 'sticky_failure'): void;
  close(): Promise<void>;
}

/** The module object `require('inferkit.node')` returns. @internal */
export interface AddonModule {
  readonly builtWithCuda: boolean;
  cudaDeviceCount(): { count: number; reason: string };
  Engine: new () => AddonEngine;
}
