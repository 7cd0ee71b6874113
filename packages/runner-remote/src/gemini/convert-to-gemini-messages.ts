import { InferenceError, messageText, type ContentPart, type Message } from '@inferkit/inference-core';
import type { GeminiContent, GeminiPart } from './gemini-api.js';
import { DATA_URL } from '../messages/data-url.js';

export interface GeminiPrompt {
  systemInstruction: { parts: { text: string }[] } | undefined;
  contents: GeminiContent[];
}

const MIME_BY_EXTENSION: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  heic: 'image/heic',
  heif: 'image/heif',
};

/**
 * Converts core messages: system text → `systemInstruction`, `assistant` → role `model`, tool
 * results → `functionResponse` parts in a user turn (named after the call they answer, found
 * by `toolCallId`), consecutive same-role turns merged.
 */
export function convertToGeminiMessages(messages: Message[], label: string): GeminiPrompt {
  const system: { text: string }[] = [];
  const contents: GeminiContent[] = [];
  const callNames = new Map<string, string>();
  const push = (role: 'user' | 'model', parts: GeminiPart[]) => {
    const last = contents[contents.length - 1];
    if (last !== undefined && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  messages.forEach((m, i) => {
    const bad = (why: string) => new InferenceError('bad_request', `${label}: messages[${i}]: ${why}`, { details: { param: `messages[${i}]` } });
    if (typeof m !== 'object' || m === null) throw bad('not an object');
    switch (m.role) {
      case 'system': {
        const text = messageText(m.content, `messages[${i}].content`);
        if (text !== '') system.push({ text });
        break;
      }
      case 'user':
        push('user', toParts(m.content, bad));
        break;
      case 'assistant': {
        const parts: GeminiPart[] = [];
        const text = messageText(m.content, `messages[${i}].content`);
        if (text !== '') parts.push({ text });
        for (const c of m.toolCalls ?? []) {
          let args: unknown;
          try {
            args = c.arguments === '' ? {} : JSON.parse(c.arguments);
          } catch {
            throw bad(`toolCalls ${JSON.stringify(c.id)} arguments are not valid JSON`);
          }
          callNames.set(c.id, c.name);
          parts.push({ functionCall: { name: c.name, args } });
        }
        if (parts.length === 0) throw bad('an assistant message needs text or tool calls');
        push('model', parts);
        break;
      }
      case 'tool': {
        const name = typeof m.toolCallId === 'string' ? callNames.get(m.toolCallId) : undefined;
        if (name === undefined) throw bad('a tool message must answer a toolCallId of an earlier assistant message');
        const text = messageText(m.content, `messages[${i}].content`);
        let response: unknown;
        try {
          response = JSON.parse(text);
        } catch {
          response = undefined;
        }
        // The API wants an object; plain text results are wrapped.
        if (typeof response !== 'object' || response === null || Array.isArray(response)) response = { result: text };
        push('user', [{ functionResponse: { name, response } }]);
        break;
      }
      default:
        throw bad(`unknown role ${JSON.stringify((m as { role?: unknown }).role)}`);
    }
  });
  if (contents.length === 0) {
    throw new InferenceError('bad_request', `${label}: at least one user or assistant message is required`, { details: { param: 'messages' } });
  }
  return { systemInstruction: system.length > 0 ? { parts: system } : undefined, contents };
}

function toParts(content: string | ContentPart[], bad: (why: string) => InferenceError): GeminiPart[] {
  if (typeof content === 'string') return [{ text: content }];
  if (!Array.isArray(content)) throw bad('content must be a string or an array of parts');
  return content.map((p): GeminiPart => {
    switch (p?.type) {
      case 'text':
        return { text: p.text };
      case 'image_base64':
        if (typeof p.mime !== 'string' || !p.mime.startsWith('image/')) throw bad(`image mime must be image/*, got ${JSON.stringify(p.mime)}`);
        return { inlineData: { mimeType: p.mime, data: p.data } };
      case 'image_url': {
        const m = DATA_URL.exec(p.url);
        if (m !== null) return { inlineData: { mimeType: m[1]!, data: m[2]! } };
        const ext = /\.([a-z0-9]+)(?:[?#].*)?$/i.exec(p.url)?.[1]?.toLowerCase();
        const mimeType = ext !== undefined ? MIME_BY_EXTENSION[ext] : undefined;
        if (mimeType === undefined) throw bad('image_url needs a data: URL or a URL ending in a known image extension (Gemini requires a MIME type)');
        return { fileData: { mimeType, fileUri: p.url } };
      }
      default:
        throw bad(`unknown content part type ${JSON.stringify((p as { type?: unknown })?.type)}`);
    }
  });
}
