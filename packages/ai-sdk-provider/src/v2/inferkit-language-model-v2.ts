import type {
  LanguageModelV2,
  LanguageModelV2CallOptions,
  LanguageModelV2Content,
  LanguageModelV2StreamPart,
  SharedV2ProviderMetadata,
} from '@ai-sdk/provider';
import type { InferkitLanguageModel } from '../inferkit-language-model.js';
import { toV2FinishReason, toV2StreamPart, toV2Usage, toV2Warning } from './to-v2-result.js';
import { toV3CallOptions } from './to-v3-call-options.js';

type V2GenerateResult = Awaited<ReturnType<LanguageModelV2['doGenerate']>>;
type V2StreamResult = Awaited<ReturnType<LanguageModelV2['doStream']>>;

/**
 * The public type of a specification v2 model: `LanguageModelV2` with its results left untyped.
 * This package depends on @ai-sdk/provider 3, whose v2 types allow `undefined` inside JSON
 * metadata; the @ai-sdk/provider 2 that `ai` 5 checks models against does not, so a model typed
 * with the former is not assignable to ai 5's `LanguageModel` although it behaves exactly as one.
 */
export interface LanguageModelV2Like {
  readonly specificationVersion: 'v2';
  readonly provider: string;
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]>;
  doGenerate(options: LanguageModelV2CallOptions): PromiseLike<any>;
  doStream(options: LanguageModelV2CallOptions): PromiseLike<any>;
}

/**
 * The same model in specification v2, the one `ai` 5 uses: calls go to the v3 model, results are
 * translated back. Mapping, capabilities and errors are the v3 model's.
 */
export class InferkitLanguageModelV2 implements LanguageModelV2, LanguageModelV2Like {
  readonly specificationVersion = 'v2';
  readonly provider: string;
  readonly modelId: string;
  readonly supportedUrls: Record<string, RegExp[]>;
  private readonly model: InferkitLanguageModel;

  constructor(model: InferkitLanguageModel) {
    this.provider = model.provider;
    this.modelId = model.modelId;
    this.supportedUrls = model.supportedUrls;
    this.model = model;
  }

  async doGenerate(options: LanguageModelV2CallOptions): Promise<V2GenerateResult> {
    const r = await this.model.doGenerate(toV3CallOptions(options));
    const result: V2GenerateResult = {
      // The model produces text, reasoning and tool calls, spelled the same in v2.
      content: r.content as LanguageModelV2Content[],
      finishReason: toV2FinishReason(r.finishReason),
      usage: toV2Usage(r.usage),
      warnings: r.warnings.map(toV2Warning),
    };
    // The model's metadata holds no undefined values, which is all v3 allows beyond v2.
    if (r.providerMetadata !== undefined) result.providerMetadata = r.providerMetadata as SharedV2ProviderMetadata;
    if (r.request !== undefined) result.request = r.request;
    if (r.response !== undefined) result.response = r.response;
    return result;
  }

  async doStream(options: LanguageModelV2CallOptions): Promise<V2StreamResult> {
    const r = await this.model.doStream(toV3CallOptions(options));
    const stream = r.stream.pipeThrough(
      new TransformStream<Parameters<typeof toV2StreamPart>[0], LanguageModelV2StreamPart>({
        transform: (part, controller) => controller.enqueue(toV2StreamPart(part)),
      }),
    );
    const result: V2StreamResult = { stream };
    if (r.request !== undefined) result.request = r.request;
    return result;
  }
}
