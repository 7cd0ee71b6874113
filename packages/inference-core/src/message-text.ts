import type { ContentPart } from './content-part.js';
import { InferenceError } from './inference-error.js';

/**
 * The text of a message's `content`, for runners and roles that take text only. A non-text part
 * is refused with `bad_request` naming `param` (e.g. `'messages[2].content'`) and the part's type:
 * never dropped silently, so an image the runner cannot see does not vanish from the prompt.
 */
export function messageText(content: string | ContentPart[], param = 'content', requestId?: string): string {
  if (typeof content === 'string') return content;
  const bad = (why: string): InferenceError =>
    new InferenceError('bad_request', `${param} ${why}`, { details: { param }, ...(requestId !== undefined ? { requestId } : {}) });
  if (!Array.isArray(content)) throw bad('must be a string or an array of parts');
  let text = '';
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as ContentPart | null | undefined;
    if (part === null || typeof part !== 'object') throw bad(`[${i}] is not a content part`);
    if (part.type !== 'text') throw bad(`[${i}] is a ${JSON.stringify(String(part.type))} part: only text is accepted here`);
    if (typeof part.text !== 'string') throw bad(`[${i}].text must be a string`);
    text += part.text;
  }
  return text;
}
