import { InferenceError, type ContentPart } from '@inferkit/inference-core';

/** `data:<mime>;base64,<data>` — providers that take inline images want the parts separately. */
export const DATA_URL = /^data:([^;,]+);base64,(.*)$/s;

/** The text of a message whose role allows text only (system, tool results); other parts are refused. */
export function textOf(content: string | ContentPart[], bad: (why: string) => InferenceError): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw bad('content must be a string or an array of parts');
  let text = '';
  for (const p of content) {
    if (p?.type !== 'text') throw bad(`only text parts are allowed in this role, got ${JSON.stringify(p?.type)}`);
    text += p.text;
  }
  return text;
}
