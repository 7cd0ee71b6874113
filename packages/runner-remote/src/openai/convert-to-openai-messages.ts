import { InferenceError, messageText, type ContentPart, type Message } from '@inferkit/inference-core';
import type { OpenAIContentPart, OpenAIMessage } from './openai-api.js';

/** Converts core messages to Chat Completions messages; throws `bad_request` for shapes it cannot carry. */
export function convertToOpenAIMessages(messages: Message[], label: string): OpenAIMessage[] {
  const out: OpenAIMessage[] = [];
  messages.forEach((m, i) => {
    const bad = (why: string) => new InferenceError('bad_request', `${label}: messages[${i}]: ${why}`, { details: { param: `messages[${i}]` } });
    if (typeof m !== 'object' || m === null) throw bad('not an object');
    const name = typeof m.name === 'string' ? { name: m.name } : {};
    switch (m.role) {
      case 'system':
        out.push({ role: 'system', content: messageText(m.content, `messages[${i}].content`), ...name });
        break;
      case 'user':
        if (typeof m.content !== 'string' && !Array.isArray(m.content)) throw bad('content must be a string or an array of parts');
        out.push({ role: 'user', content: typeof m.content === 'string' ? m.content : m.content.map((p) => toPart(p, bad)), ...name });
        break;
      case 'assistant': {
        const text = messageText(m.content, `messages[${i}].content`);
        const calls = m.toolCalls ?? [];
        if (!Array.isArray(calls)) throw bad('toolCalls must be an array');
        out.push({
          role: 'assistant',
          content: text === '' && calls.length > 0 ? null : text,
          ...name,
          ...(calls.length > 0
            ? { tool_calls: calls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) }
            : {}),
        });
        break;
      }
      case 'tool':
        if (typeof m.toolCallId !== 'string' || m.toolCallId === '') throw bad('a tool message needs toolCallId');
        out.push({ role: 'tool', content: messageText(m.content, `messages[${i}].content`), tool_call_id: m.toolCallId });
        break;
      default:
        throw bad(`unknown role ${JSON.stringify((m as { role?: unknown }).role)}`);
    }
  });
  return out;
}

function toPart(p: ContentPart, bad: (why: string) => InferenceError): OpenAIContentPart {
  switch (p?.type) {
    case 'text':
      return { type: 'text', text: p.text };
    case 'image_base64':
      if (typeof p.mime !== 'string' || !p.mime.startsWith('image/')) throw bad(`image mime must be image/*, got ${JSON.stringify(p.mime)}`);
      return { type: 'image_url', image_url: { url: `data:${p.mime};base64,${p.data}` } };
    case 'image_url':
      return { type: 'image_url', image_url: { url: p.url } };
    default:
      throw bad(`unknown content part type ${JSON.stringify((p as { type?: unknown })?.type)}`);
  }
}
