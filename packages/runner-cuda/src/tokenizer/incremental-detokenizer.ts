/** Anything that turns token ids into text. */
export interface TokenDecoder {
  decode(ids: number[]): string;
}

const REPLACEMENT = '\uFFFD';

/**
 * Streams text out of a growing token sequence without ever splitting a multi-byte character.
 *
 * Byte-level tokenizers emit a character such as "é" or "😀" as several tokens; decoding them one
 * at a time yields U+FFFD. Like text-generation-inference, we decode a small window twice — from
 * `prefixOffset` up to `readOffset` (already emitted) and up to the end — and release the
 * difference only when it does not end in U+FFFD. Decoding a window instead of single tokens also
 * keeps SentencePiece's leading-space handling right.
 */
export class IncrementalDetokenizer {
  private readonly decoder: TokenDecoder;
  private readonly ids: number[];
  private prefixOffset: number;
  private readOffset: number;

  /**
   * @param context ids that come before the first pushed one and are never emitted: the first
   *   pushed token then decodes as it does after them, not as the start of a sequence.
   */
  constructor(decoder: TokenDecoder, context: readonly number[] = []) {
    this.decoder = decoder;
    this.ids = [...context];
    this.prefixOffset = 0;
    this.readOffset = context.length;
  }

  /** Adds tokens; returns the text that became complete (possibly `''`). */
  push(tokens: ArrayLike<number>): string {
    for (let i = 0; i < tokens.length; i++) this.ids.push(tokens[i]!);
    if (this.ids.length === this.readOffset) return '';
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    if (fullText.length > prefixText.length && !fullText.endsWith(REPLACEMENT)) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      return fullText.slice(prefixText.length);
    }
    return '';
  }

  /**
   * Text still held back at the end of generation: an incomplete character the model really
   * produced is emitted as U+FFFD rather than dropped.
   */
  flush(): string {
    if (this.ids.length === this.readOffset) return '';
    const prefixText = this.decoder.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decoder.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset = this.ids.length;
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  }
}
