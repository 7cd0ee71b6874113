import type { ChunkEmitter } from '../remote-runner.js';

/**
 * Wraps `emit` so that the output text loses a leading `expected` (whitespace the prefill could
 * not send, see `splitPrefill`): characters are dropped while they match `expected` in order,
 * across chunks, and the first one that differs ends the dropping. A chunk left with nothing to
 * carry is not emitted. Output that does not start with the whitespace is passed on whole: the
 * continued text then has that whitespace and the model's own (documented in the README).
 */
export function dropLeadingText(expected: string, emit: ChunkEmitter): ChunkEmitter {
  if (expected === '') return emit;
  let pending = expected;
  return (chunk) => {
    if (pending !== '' && chunk.textDelta !== '') {
      const text = chunk.textDelta;
      let i = 0;
      while (i < pending.length && i < text.length && text[i] === pending[i]) i++;
      pending = i === text.length ? pending.slice(i) : '';
      chunk.textDelta = text.slice(i);
      if (
        chunk.textDelta === '' &&
        chunk.toolCallDelta === undefined &&
        chunk.reasoningDelta === undefined &&
        chunk.usage === undefined &&
        chunk.finishReason === undefined
      ) {
        return;
      }
    }
    emit(chunk);
  };
}
