import type { ExecuteBatch } from '@inferkit/inference-core';

/**
 * Characters of prompt text in a batch: message text, tool-call names and arguments, and the
 * tools' JSON (a chat template renders them into the prompt). Images are not text and do not
 * count. O(size of the request); call it after `validateBatch`, which bounds the tools' nesting.
 */
export function promptChars(batch: Pick<ExecuteBatch, 'messages' | 'tools'>): number {
  let chars = 0;
  for (const m of batch.messages) {
    const c = m.content;
    if (typeof c === 'string') chars += c.length;
    else for (const p of c) if (p.type === 'text') chars += p.text.length;
    if (m.toolCalls !== undefined) for (const t of m.toolCalls) chars += t.name.length + t.arguments.length;
  }
  if (batch.tools !== undefined && batch.tools.length > 0) chars += JSON.stringify(batch.tools).length;
  return chars;
}
