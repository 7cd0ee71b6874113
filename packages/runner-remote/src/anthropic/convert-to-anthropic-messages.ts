import { InferenceError, messageText, type ContentPart, type Message } from '@inferkit/inference-core';
import type { AnthropicContentBlock, AnthropicMessage } from './anthropic-api.js';
import { DATA_URL } from '../messages/data-url.js';

export interface AnthropicPrompt {
  system: { type: 'text'; text: string }[];
  messages: AnthropicMessage[];
}

/**
 * A continuation's prefill split for the Messages API, which refuses a final assistant message
 * that ends in whitespace ("final assistant content cannot end with trailing whitespace"): `sent`
 * is the text without its trailing whitespace, `held` that whitespace. The model continues
 * `sent`; its output starts with `held` most of the time (a word after a space), and the runner
 * drops that much of it (`dropLeadingText`), so the continued text is the same as if the
 * whitespace had been sent.
 */
export function splitPrefill(text: string): { sent: string; held: string } {
  const sent = text.replace(/\s+$/, '');
  return { sent, held: text.slice(sent.length) };
}

/**
 * Converts core messages: system messages move to the top-level `system` (the portable place),
 * tool results become `tool_result` blocks in a user turn, and consecutive turns of the same
 * role are merged (parallel tool results must share one user turn). A final `prefix: true`
 * assistant message becomes the prefill the model continues (see `splitPrefill`).
 */
export function convertToAnthropicMessages(messages: Message[], label: string): AnthropicPrompt {
  const system: { type: 'text'; text: string }[] = [];
  const out: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: AnthropicContentBlock[]) => {
    const last = out[out.length - 1];
    if (last !== undefined && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  };
  messages.forEach((m, i) => {
    const bad = (why: string) => new InferenceError('bad_request', `${label}: messages[${i}]: ${why}`, { details: { param: `messages[${i}]` } });
    if (typeof m !== 'object' || m === null) throw bad('not an object');
    switch (m.role) {
      case 'system': {
        const text = messageText(m.content, `messages[${i}].content`);
        if (text !== '') system.push({ type: 'text', text });
        break;
      }
      case 'user':
        push('user', toBlocks(m.content, bad));
        break;
      case 'assistant': {
        const blocks: AnthropicContentBlock[] = [];
        let text = messageText(m.content, `messages[${i}].content`);
        if (m.prefix === true) {
          // A prefill: the last message, continued by the model. An empty one (or whitespace only)
          // is sent as no message at all: the model then starts the assistant turn itself.
          text = splitPrefill(text).sent;
          if (text === '' && (m.toolCalls ?? []).length === 0) break;
        }
        if (text !== '') blocks.push({ type: 'text', text });
        for (const c of m.toolCalls ?? []) {
          let input: unknown;
          try {
            input = c.arguments === '' ? {} : JSON.parse(c.arguments);
          } catch {
            throw bad(`toolCalls ${JSON.stringify(c.id)} arguments are not valid JSON`);
          }
          blocks.push({ type: 'tool_use', id: c.id, name: c.name, input });
        }
        if (blocks.length === 0) throw bad('an assistant message needs text or tool calls');
        push('assistant', blocks);
        break;
      }
      case 'tool':
        if (typeof m.toolCallId !== 'string' || m.toolCallId === '') throw bad('a tool message needs toolCallId');
        push('user', [{ type: 'tool_result', tool_use_id: m.toolCallId, content: messageText(m.content, `messages[${i}].content`) }]);
        break;
      default:
        throw bad(`unknown role ${JSON.stringify((m as { role?: unknown }).role)}`);
    }
  });
  if (out.length === 0) {
    throw new InferenceError('bad_request', `${label}: at least one user or assistant message is required`, { details: { param: 'messages' } });
  }
  return { system, messages: out };
}

function toBlocks(content: string | ContentPart[], bad: (why: string) => InferenceError): AnthropicContentBlock[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) throw bad('content must be a string or an array of parts');
  return content.map((p): AnthropicContentBlock => {
    switch (p?.type) {
      case 'text':
        return { type: 'text', text: p.text };
      case 'image_base64':
        if (typeof p.mime !== 'string' || !p.mime.startsWith('image/')) throw bad(`image mime must be image/*, got ${JSON.stringify(p.mime)}`);
        return { type: 'image', source: { type: 'base64', media_type: p.mime, data: p.data } };
      case 'image_url': {
        const m = DATA_URL.exec(p.url);
        if (m !== null) return { type: 'image', source: { type: 'base64', media_type: m[1]!, data: m[2]! } };
        if (!/^https?:\/\//.test(p.url)) throw bad('image_url must be an http(s) or base64 data: URL');
        return { type: 'image', source: { type: 'url', url: p.url } };
      }
      default:
        throw bad(`unknown content part type ${JSON.stringify((p as { type?: unknown })?.type)}`);
    }
  });
}
