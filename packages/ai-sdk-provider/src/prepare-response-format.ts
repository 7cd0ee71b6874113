import type { LanguageModelV3CallOptions, SharedV3Warning } from '@ai-sdk/provider';
import type { Message, ResponseFormat } from '@inferkit/inference-core';

/** Schema name sent when the call gives none (OpenAI requires one). */
export const DEFAULT_SCHEMA_NAME = 'response';

/** What `prepareResponseFormat` returns: the batch's format, and the messages to send. */
export interface PreparedResponseFormat {
  responseFormat?: ResponseFormat;
  messages: Message[];
}

/**
 * The call's response format for the batch.
 *
 * - JSON with a schema, runner declares `capabilities().responseFormat`: `json_schema`, so the
 *   runner constrains its output; JSON without a schema: `json_object`.
 * - JSON, runner does not declare it: no `responseFormat` (the runner would refuse it); instead the
 *   request (and the schema, if any) is written into the system prompt, and a `compatibility`
 *   warning says so, since the output is asked for but not enforced. The AI SDK still parses and
 *   validates the text, so `generateObject` works and fails clearly when the model ignores it.
 */
export function prepareResponseFormat(
  format: LanguageModelV3CallOptions['responseFormat'],
  runnerHasResponseFormat: boolean,
  messages: Message[],
  modelId: string,
  warnings: SharedV3Warning[],
): PreparedResponseFormat {
  if (format === undefined || format.type !== 'json') return { messages };
  if (runnerHasResponseFormat) {
    if (format.schema === undefined) return { messages, responseFormat: { type: 'json_object' } };
    const responseFormat: ResponseFormat = {
      type: 'json_schema',
      name: format.name ?? DEFAULT_SCHEMA_NAME,
      schema: format.schema as Record<string, unknown>,
    };
    if (format.description !== undefined) responseFormat.description = format.description;
    return { messages, responseFormat };
  }
  warnings.push({
    type: 'compatibility',
    feature: 'responseFormat',
    details:
      `the runner of model '${modelId}' does not declare capabilities().responseFormat, so the JSON ` +
      'output is requested in the system prompt and not enforced',
  });
  return { messages: withSystemInstruction(messages, jsonInstruction(format)) };
}

function jsonInstruction(format: { schema?: unknown; name?: string; description?: string }): string {
  const lines: string[] = [];
  if (format.schema === undefined) {
    lines.push('Answer with one JSON value and nothing else: no prose, no Markdown code fences.');
  } else {
    lines.push('Answer with one JSON value that matches this JSON schema, and nothing else: no prose, no Markdown code fences.');
    if (format.name !== undefined) lines.push(`Name of the output: ${format.name}`);
    if (format.description !== undefined) lines.push(`Description of the output: ${format.description}`);
    lines.push(`JSON schema: ${JSON.stringify(format.schema)}`);
  }
  return lines.join('\n');
}

/** Appends to the leading system message, or puts one in front: the instruction reads first. */
function withSystemInstruction(messages: Message[], instruction: string): Message[] {
  const first = messages[0];
  if (first !== undefined && first.role === 'system' && typeof first.content === 'string') {
    const content = first.content === '' ? instruction : `${first.content}\n\n${instruction}`;
    return [{ ...first, content }, ...messages.slice(1)];
  }
  return [{ role: 'system', content: instruction }, ...messages];
}
