import type { LanguageModelV3FinishReason } from '@ai-sdk/provider';
import type { FinishReason } from '@inferkit/inference-core';

const UNIFIED: Record<FinishReason, LanguageModelV3FinishReason['unified']> = {
  stop: 'stop',
  length: 'length',
  tool_calls: 'tool-calls',
  content_filter: 'content-filter',
  error: 'error',
};

/**
 * The AI SDK finish reason for an inferkit one. `raw` is the runtime's own string when the runner
 * gave one (`'end_turn'`), else inferkit's. A stream that ended without a finish chunk, or with a
 * value outside `FinishReason`, is `other`.
 */
export function mapInferkitFinishReason(reason: FinishReason | undefined, raw: string | undefined): LanguageModelV3FinishReason {
  const unified = reason !== undefined && Object.hasOwn(UNIFIED, reason) ? UNIFIED[reason] : 'other';
  return { unified, raw: raw ?? reason };
}
