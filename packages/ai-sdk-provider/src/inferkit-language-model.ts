import { randomUUID } from 'node:crypto';
import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Content,
  LanguageModelV3FinishReason,
  LanguageModelV3GenerateResult,
  LanguageModelV3StreamPart,
  LanguageModelV3StreamResult,
  LanguageModelV3Usage,
  SharedV3ProviderMetadata,
  SharedV3Warning,
} from '@ai-sdk/provider';
import {
  capabilitiesOf,
  estimatePromptTokens,
  type ExecuteBatch,
  type ModelRunner,
  type RunHandle,
  type SamplingParams,
  type TokenChunk,
} from '@inferkit/inference-core';
import { convertToInferkitMessages } from './convert-to-inferkit-messages.js';
import { prepareResponseFormat } from './prepare-response-format.js';
import { prepareTools } from './prepare-tools.js';
import { StreamPartBuilder } from './stream-part-builder.js';
import { toAISDKError, type ErrorContext } from './to-ai-sdk-error.js';

/**
 * Output tokens counted in `ExecuteBatch.estimatedTokens` when the call sets no `maxOutputTokens`
 * (the gateway assumes the same). Only rate limiters and budgets read the estimate.
 */
export const DEFAULT_ESTIMATED_OUTPUT_TOKENS = 256;

/** How `createInferkit` configures one model. */
export interface InferkitLanguageModelConfig {
  /** The AI SDK's `provider` field, also the `providerMetadata` key (`'inferkit'`). */
  provider: string;
  /** The runner that serves the model. */
  runner: ModelRunner;
  /** `ExecuteBatch.model`: the model name as the runner knows it. */
  runnerModel: string;
}

/**
 * One `ModelRunner` as an AI SDK language model (specification v3, the one `ai@6` uses). Built by
 * `createInferkit`; see its documentation for what is mapped how.
 */
export class InferkitLanguageModel implements LanguageModelV3 {
  readonly specificationVersion = 'v3';
  readonly provider: string;
  readonly modelId: string;
  /**
   * None: the AI SDK downloads URLs itself and hands over the bytes, since a local runner cannot
   * fetch them and a remote one gets them inline either way.
   */
  readonly supportedUrls: Record<string, RegExp[]>;
  private readonly runner: ModelRunner;
  private readonly runnerModel: string;

  constructor(modelId: string, config: InferkitLanguageModelConfig) {
    this.provider = config.provider;
    this.modelId = modelId;
    this.supportedUrls = {};
    this.runner = config.runner;
    this.runnerModel = config.runnerModel;
  }

  async doGenerate(options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> {
    const { batch, warnings } = this.prepareCall(options, false);
    const context: ErrorContext = { modelId: this.modelId, requestId: batch.requestId, abortSignal: options.abortSignal };
    const handle = await this.start(batch, context);
    const content: LanguageModelV3Content[] = [];
    const open = new Map<string, { type: 'text' | 'reasoning'; text: string }>();
    let failure: unknown;
    let finishReason: LanguageModelV3FinishReason | undefined;
    let usage: LanguageModelV3Usage | undefined;
    let providerMetadata: SharedV3ProviderMetadata | undefined;
    const builder = new StreamPartBuilder(
      (part) => {
        switch (part.type) {
          case 'text-start':
          case 'reasoning-start': {
            const entry = { type: part.type === 'text-start' ? ('text' as const) : ('reasoning' as const), text: '' };
            open.set(part.id, entry);
            content.push(entry);
            break;
          }
          case 'text-delta':
          case 'reasoning-delta':
            open.get(part.id)!.text += part.delta;
            break;
          case 'tool-call':
            content.push(part);
            break;
          case 'error':
            failure ??= part.error;
            break;
          case 'finish':
            finishReason = part.finishReason;
            usage = part.usage;
            providerMetadata = part.providerMetadata;
            break;
          default:
            break; // block ends and tool input deltas carry nothing the result needs
        }
      },
      batch.requestId,
      this.provider,
    );
    try {
      for await (const chunk of handle) {
        builder.push(chunk);
        if (builder.finished) break;
      }
    } catch (e) {
      throw toAISDKError(e, context);
    }
    builder.finish(undefined, undefined);
    if (failure !== undefined) throw failure;
    const result: LanguageModelV3GenerateResult = {
      content,
      finishReason: finishReason!,
      usage: usage!,
      request: { body: batch },
      response: { id: batch.requestId, modelId: batch.model },
      warnings,
    };
    if (providerMetadata !== undefined) result.providerMetadata = providerMetadata;
    return result;
  }

  async doStream(options: LanguageModelV3CallOptions): Promise<LanguageModelV3StreamResult> {
    const { batch, warnings } = this.prepareCall(options, true);
    const signal = options.abortSignal;
    const context: ErrorContext = { modelId: this.modelId, requestId: batch.requestId, abortSignal: signal };
    const handle = await this.start(batch, context);
    const iterator = handle[Symbol.asyncIterator]();
    const includeRaw = options.includeRawChunks === true;
    let builder: StreamPartBuilder;
    let emitted = false;
    const stream = new ReadableStream<LanguageModelV3StreamPart>({
      start: (controller) => {
        controller.enqueue({ type: 'stream-start', warnings });
        controller.enqueue({ type: 'response-metadata', id: batch.requestId, modelId: batch.model });
        builder = new StreamPartBuilder(
          (part) => {
            emitted = true;
            controller.enqueue(part);
          },
          batch.requestId,
          this.provider,
        );
      },
      // A pull that enqueues nothing is not called again, so this reads until a part went out.
      pull: async (controller) => {
        emitted = false;
        while (!emitted) {
          let r: IteratorResult<TokenChunk>;
          try {
            r = await iterator.next();
          } catch (e) {
            const error = toAISDKError(e, context);
            // An abort errors the stream, as a fetch body does, so the AI SDK ends with `abort`.
            if (signal?.aborted === true) controller.error(error);
            else {
              builder.fail(error);
              controller.close();
            }
            return;
          }
          if (r.done === true) {
            builder.finish(undefined, undefined);
            controller.close();
            return;
          }
          if (includeRaw) {
            emitted = true;
            controller.enqueue({ type: 'raw', rawValue: r.value });
          }
          try {
            builder.push(r.value);
          } catch (e) {
            handle.cancel('the runner broke the TokenChunk contract');
            builder.fail(e);
          }
          if (builder.finished) {
            // Nothing follows a finish chunk: release the handle instead of waiting for its end.
            void iterator.return?.();
            controller.close();
            return;
          }
        }
      },
      cancel: () => {
        handle.cancel('the AI SDK stream was cancelled');
      },
    });
    return { stream, request: { body: batch } };
  }

  /** Runs `execute`; a rejection comes back as the AI SDK error for it. */
  private async start(batch: ExecuteBatch, context: ErrorContext): Promise<RunHandle> {
    try {
      return await this.runner.execute(batch, { signal: context.abortSignal });
    } catch (e) {
      throw toAISDKError(e, context);
    }
  }

  /**
   * The batch for a call, and the warnings about what it could not carry. Throws the AI SDK error
   * for a prompt it cannot convert, and for a runner whose `capabilities()` throws.
   */
  private prepareCall(options: LanguageModelV3CallOptions, stream: boolean): { batch: ExecuteBatch; warnings: SharedV3Warning[] } {
    let caps: ReturnType<typeof capabilitiesOf>;
    try {
      caps = capabilitiesOf(this.runner);
    } catch (e) {
      throw toAISDKError(e, { modelId: this.modelId, requestId: undefined, abortSignal: undefined });
    }
    const warnings: SharedV3Warning[] = [];
    const converted = convertToInferkitMessages(options.prompt, { images: caps.images, modelId: this.modelId, warnings });
    const sampling: SamplingParams = {};
    if (options.maxOutputTokens !== undefined) sampling.maxTokens = options.maxOutputTokens;
    if (options.temperature !== undefined) sampling.temperature = options.temperature;
    if (options.topP !== undefined) sampling.topP = options.topP;
    if (options.topK !== undefined) sampling.topK = options.topK;
    if (options.stopSequences !== undefined && options.stopSequences.length > 0) sampling.stop = options.stopSequences;
    if (options.seed !== undefined) sampling.seed = options.seed;
    for (const name of ['presencePenalty', 'frequencyPenalty'] as const) {
      const value = options[name];
      if (value === undefined) continue;
      if (caps.penalties) sampling[name] = value;
      else if (value !== 0) {
        warnings.push({
          type: 'unsupported',
          feature: name,
          details: `the runner of model '${this.modelId}' does not declare capabilities().penalties, so ${name} was not sent`,
        });
      }
    }
    const tools = prepareTools(options.tools, options.toolChoice, caps.tools, this.modelId, warnings);
    const format = prepareResponseFormat(options.responseFormat, caps.responseFormat, converted, this.modelId, warnings);
    const batch: ExecuteBatch = {
      requestId: randomUUID(),
      model: this.runnerModel,
      messages: format.messages,
      sampling,
      stream,
      estimatedTokens: estimatePromptTokens(format.messages, tools.tools) + (options.maxOutputTokens ?? DEFAULT_ESTIMATED_OUTPUT_TOKENS),
    };
    if (tools.tools !== undefined) batch.tools = tools.tools;
    if (tools.toolChoice !== undefined) batch.toolChoice = tools.toolChoice;
    if (format.responseFormat !== undefined) batch.responseFormat = format.responseFormat;
    return { batch, warnings };
  }
}
