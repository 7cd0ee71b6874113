import type { LanguageModelV2CallOptions, LanguageModelV3CallOptions, LanguageModelV3Prompt } from '@ai-sdk/provider';

/**
 * Specification v2 call options in the v3 shape the language model reads. They are the same but
 * for two spellings: a tool result's `media` content item (v3 calls it `file-data`) and
 * provider-defined tools (`provider-defined` in v2, `provider` in v3), which the model does not
 * send either way.
 */
export function toV3CallOptions(options: LanguageModelV2CallOptions): LanguageModelV3CallOptions {
  const prompt = Array.isArray(options.prompt) ? options.prompt.map(toV3Message) : options.prompt;
  return { ...options, prompt } as LanguageModelV3CallOptions;
}

function toV3Message(message: LanguageModelV2CallOptions['prompt'][number]): LanguageModelV3Prompt[number] {
  if (message?.role !== 'tool' || !Array.isArray(message.content)) return message as LanguageModelV3Prompt[number];
  return {
    ...message,
    content: message.content.map((part) => {
      const output = part?.output;
      if (output?.type !== 'content' || !Array.isArray(output.value)) return part;
      return {
        ...part,
        output: {
          type: 'content',
          value: output.value.map((item) => (item?.type === 'media' ? { type: 'file-data', data: item.data, mediaType: item.mediaType } : item)),
        },
      };
    }),
  } as LanguageModelV3Prompt[number];
}
