// The core's field names (`ExecuteBatch`) → the request's (OpenAI chat completions), in order.
const RENAMES: ReadonlyArray<[RegExp, string]> = [
  [/^sampling\.topP$/, 'top_p'],
  [/^sampling\.topK$/, 'top_k'],
  [/^sampling\.maxTokens$/, 'max_tokens'],
  [/^sampling\.presencePenalty$/, 'presence_penalty'],
  [/^sampling\.frequencyPenalty$/, 'frequency_penalty'],
  [/^sampling\.repetitionPenalty$/, 'repetition_penalty'],
  [/^sampling\.(temperature|seed|stop)$/, '$1'],
  [/^tools\[(\d+)\]\.(parameters|name|description|strict)$/, 'tools[$1].function.$2'],
  [/^toolChoice$/, 'tool_choice'],
  [/^responseFormat\.(schema|name)$/, 'response_format.json_schema.$1'],
  [/^responseFormat/, 'response_format'],
  [/^(messages\[\d+\])\.toolCalls/, '$1.tool_calls'],
  [/^(messages\[\d+\])\.toolCallId$/, '$1.tool_call_id'],
];

/**
 * The request field a core parameter name stands for (`sampling.topP` → `top_p`,
 * `tools[0].parameters` → `tools[0].function.parameters`); other names are returned as they are.
 */
export function toOpenAIParam(param: string): string {
  for (const [re, to] of RENAMES) if (re.test(param)) return param.replace(re, to);
  return param;
}
