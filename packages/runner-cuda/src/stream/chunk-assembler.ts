import { StopSequenceMatcher } from '@inferkit/inference-core';
import { IncrementalDetokenizer, type TokenDecoder } from '../tokenizer/incremental-detokenizer.js';

/** Text ready for a chunk and the ids of exactly the tokens that text comes from. */
export interface AssembledText {
  text: string;
  ids: number[];
}

/**
 * Turns generated token ids into chunk text and `tokenIds` that agree: the ids a chunk carries
 * are those of the tokens whose text it holds, so the ids of all chunks so far decode to the text
 * of all chunks so far, and handing them back (`continuationTokenIds`) continues exactly there.
 *
 * Two things hold text back, and both are respected at token boundaries:
 * - the UTF-8-safe detokenizer releases text only when it ends on a whole character, so the
 *   tokens of a character split over several tokens are released together (a *segment*);
 * - the stop-string matcher (the core's `StopSequenceMatcher`) holds back text that could still
 *   become a stop string; a segment is emitted only once all of its text is released.
 * When a stop string ends the output in the middle of a token's text, that token's id goes with
 * the final chunk: its ids then decode to the chunk text plus the start of the stop string.
 */
export class ChunkAssembler {
  private readonly detokenizer: IncrementalDetokenizer;
  private readonly matcher: StopSequenceMatcher;
  /** Ids pushed whose text the detokenizer has not released yet. */
  private unreleased: number[];
  /** Segments the detokenizer released, in order, not yet emitted. */
  private readonly segments: AssembledText[];
  /** Characters at the front of `segments` that the matcher has released. */
  private releasedChars: number;

  /**
   * @param context token ids just before the first generated one (e.g. the end of the assistant
   *   text being continued), so that the first token decodes as it does after them (SentencePiece
   *   drops the leading space of a sequence's first token). They are never emitted.
   */
  constructor(decoder: TokenDecoder, stops: readonly string[], context: readonly number[] = []) {
    this.detokenizer = new IncrementalDetokenizer(decoder, context);
    this.matcher = new StopSequenceMatcher(stops);
    this.unreleased = [];
    this.segments = [];
    this.releasedChars = 0;
  }

  /** Adds one generated token. `stopped`: a stop string ended the output (nothing more follows). */
  push(id: number): AssembledText & { stopped: boolean } {
    this.unreleased.push(id);
    const text = this.detokenizer.push([id]);
    if (text === '') return { text: '', ids: [], stopped: false };
    return this.release(text, false);
  }

  /** The end of generation: everything still held, including an incomplete character as U+FFFD. */
  finish(): AssembledText & { stopped: boolean } {
    return this.release(this.detokenizer.flush(), true);
  }

  private release(text: string, last: boolean): AssembledText & { stopped: boolean } {
    if (this.unreleased.length > 0) {
      this.segments.push({ ids: this.unreleased, text });
      this.unreleased = [];
    }
    const out = this.matcher.push(text);
    this.releasedChars += out.text.length;
    if (last && !out.stopped) this.releasedChars += this.matcher.flush().length;
    const ids: number[] = [];
    let emitted = '';
    while (this.segments.length > 0 && this.segments[0]!.text.length <= this.releasedChars) {
      const s = this.segments.shift()!;
      this.releasedChars -= s.text.length;
      ids.push(...s.ids);
      emitted += s.text;
    }
    if (out.stopped) {
      // The stop string starts inside this segment: its text up to there, and its ids.
      const s = this.segments[0];
      if (s !== undefined && this.releasedChars > 0) {
        ids.push(...s.ids);
        emitted += s.text.slice(0, this.releasedChars);
      }
      this.segments.length = 0;
      this.releasedChars = 0;
    }
    return { text: emitted, ids, stopped: out.stopped };
  }
}
