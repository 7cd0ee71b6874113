import type { TokenDecoder } from '../tokenizer/incremental-detokenizer.js';

/**
 * `decoder`, except that token `id` decodes to `text`. For a tool-call trigger that is a control
 * token (Mistral's `[TOOL_CALLS]`): decoded text drops control tokens, and the call parser must
 * see it. Works on any window of ids, as the incremental detokenizer decodes.
 */
export function withVisibleToken(decoder: TokenDecoder, id: number, text: string): TokenDecoder {
  return {
    decode(ids: number[]): string {
      let out = '';
      let from = 0;
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] !== id) continue;
        out += decoder.decode(ids.slice(from, i)) + text;
        from = i + 1;
      }
      return out + decoder.decode(ids.slice(from));
    },
  };
}
