import type {
  LanguageModelV2CallOptions,
  LanguageModelV2CallWarning,
  LanguageModelV2FinishReason,
  LanguageModelV2StreamPart,
  LanguageModelV2Usage,
  LanguageModelV3FinishReason,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
  SharedV2ProviderMetadata,
  SharedV3Warning,
} from '@ai-sdk/provider';

// Call settings the model warns about; v2 reports those as `unsupported-setting`.
const SETTINGS: ReadonlySet<string> = new Set<keyof LanguageModelV2CallOptions>([
  'tools',
  'toolChoice',
  'responseFormat',
  'presencePenalty',
  'frequencyPenalty',
]);

/** A v3 warning in v2 terms: a call setting → `unsupported-setting`, anything else → `other`. */
export function toV2Warning(warning: SharedV3Warning): LanguageModelV2CallWarning {
  if (warning.type === 'other') return warning;
  if (SETTINGS.has(warning.feature)) {
    const w: LanguageModelV2CallWarning = { type: 'unsupported-setting', setting: warning.feature as keyof LanguageModelV2CallOptions };
    if (warning.details !== undefined) w.details = warning.details;
    return w;
  }
  return { type: 'other', message: warning.details !== undefined ? `${warning.feature}: ${warning.details}` : `${warning.feature} is not supported` };
}

/**
 * v2 usage: the totals, reasoning and cache reads. `totalTokens` is their sum when both are
 * known (inferkit runners report no total of their own), else `undefined`, like every unknown.
 */
export function toV2Usage(usage: LanguageModelV3Usage): LanguageModelV2Usage {
  const input = usage.inputTokens.total;
  const output = usage.outputTokens.total;
  return {
    inputTokens: input,
    outputTokens: output,
    totalTokens: input !== undefined && output !== undefined ? input + output : undefined,
    reasoningTokens: usage.outputTokens.reasoning,
    cachedInputTokens: usage.inputTokens.cacheRead,
  };
}

/** The v2 finish reason is v3's unified one (v2 has no raw string). */
export function toV2FinishReason(reason: LanguageModelV3FinishReason): LanguageModelV2FinishReason {
  return reason.unified;
}

/** A stream part in v2 terms: only `stream-start` (warnings) and `finish` differ. */
export function toV2StreamPart(part: LanguageModelV3StreamPart): LanguageModelV2StreamPart {
  switch (part.type) {
    case 'stream-start':
      return { type: 'stream-start', warnings: part.warnings.map(toV2Warning) };
    case 'finish': {
      const out: LanguageModelV2StreamPart = { type: 'finish', usage: toV2Usage(part.usage), finishReason: toV2FinishReason(part.finishReason) };
      // The model's metadata holds no undefined values, which is all v3 allows beyond v2.
      if (part.providerMetadata !== undefined) out.providerMetadata = part.providerMetadata as SharedV2ProviderMetadata;
      return out;
    }
    default:
      // The parts the model emits (text, reasoning, tool input and calls, metadata, raw, error)
      // are spelled the same in both versions.
      return part as LanguageModelV2StreamPart;
  }
}
