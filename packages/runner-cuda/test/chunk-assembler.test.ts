import { describe, expect, test } from 'vitest';
import { StopSequenceMatcher } from '@inferkit/inference-core';
import { ChunkAssembler } from '../src/stream/chunk-assembler.js';
import { IncrementalDetokenizer } from '../src/tokenizer/incremental-detokenizer.js';
import { pseudoRandomIds } from './helpers/prompts.js';
import { tinyTokenizer } from './helpers/tokenizer.js';

interface Chunk {
  text: string;
  ids: number[];
}

/** Runs `ids` through an assembler the way the runner does: one push per token, then finish. */
function assemble(assembler: ChunkAssembler, ids: number[]): { chunks: Chunk[]; stopped: boolean } {
  const chunks: Chunk[] = [];
  for (const id of ids) {
    const out = assembler.push(id);
    if (out.ids.length > 0 || out.stopped) chunks.push({ text: out.text, ids: out.ids });
    if (out.stopped) return { chunks, stopped: true };
  }
  const last = assembler.finish();
  chunks.push({ text: last.text, ids: last.ids });
  return { chunks, stopped: last.stopped };
}

/** What the runner emitted before tokenIds existed: detokenizer, then stop matcher. */
function textOnly(decoder: { decode(ids: number[]): string }, stops: string[], ids: number[]): string {
  const detok = new IncrementalDetokenizer(decoder);
  const matcher = new StopSequenceMatcher(stops);
  let text = '';
  for (const id of ids) {
    const out = matcher.push(detok.push([id]));
    text += out.text;
    if (out.stopped) return text;
  }
  const out = matcher.push(detok.flush());
  return text + out.text + (out.stopped ? '' : matcher.flush());
}

describe('ChunkAssembler', () => {
  test('every prefix of the chunks: their ids decode to their text (multi-byte characters, special tokens, any stream)', async () => {
    const tok = await tinyTokenizer();
    const special = tok.tokenId('<|im_start|>')!;
    const streams = [
      tok.encode('héllo wörld, 😀 and 🎉 — 日本語のテキスト。 done', false),
      [...tok.encode('a', false), special, ...tok.encode(' b 😀', false)],
      ...Array.from({ length: 20 }, (_, i) => pseudoRandomIds(100 + i, 60, 320)),
    ];
    for (const ids of streams) {
      const { chunks } = assemble(new ChunkAssembler(tok, []), ids);
      expect(chunks.flatMap((c) => c.ids)).toEqual(ids);
      let text = '';
      const sofar: number[] = [];
      for (const c of chunks.slice(0, -1)) {
        text += c.text;
        sofar.push(...c.ids);
        // Mid-stream chunks end on whole characters, so their ids decode exactly to their text.
        expect(tok.decode(sofar)).toBe(text);
      }
      text += chunks[chunks.length - 1]!.text;
      expect(tok.decode(ids)).toBe(text);
      expect(text).toBe(textOnly(tok, [], ids));
    }
  });

  test('stop strings: the text is what the stop matcher allows, held-back text keeps its tokens, a straddling token goes with the final chunk', async () => {
    const tok = await tinyTokenizer();
    const ids = tok.encode('The quick brown fox jumps over the lazy dog. Hello world!', false);
    const full = tok.decode(ids);
    for (const stop of ['fox', 'ox j', 'o', 'lazy dog', 'Hello world!', 'never there', 'k b', '!']) {
      const { chunks, stopped } = assemble(new ChunkAssembler(tok, [stop, 'also never']), ids);
      const text = chunks.map((c) => c.text).join('');
      expect(text, stop).toBe(textOnly(tok, [stop, 'also never'], ids));
      expect(stopped, stop).toBe(full.includes(stop));
      const all = chunks.flatMap((c) => c.ids);
      expect(ids.slice(0, all.length), stop).toEqual(all);
      // Decoded, the ids hold the text and at most the start of the stop string.
      const decoded = tok.decode(all);
      expect(decoded.startsWith(text), stop).toBe(true);
      expect(stop.startsWith(decoded.slice(text.length)) || decoded === text, stop).toBe(true);
      for (const c of chunks.slice(0, -1)) expect(c.ids.length, stop).toBeGreaterThan(0);
    }
  });

  test('a context makes the first token decode as it does after it, and is never emitted', async () => {
    const tok = await tinyTokenizer();
    const ids = tok.encode('hello there friend', false);
    const cut = 2;
    const { chunks } = assemble(new ChunkAssembler(tok, [], ids.slice(0, cut)), ids.slice(cut));
    expect(chunks.flatMap((c) => c.ids)).toEqual(ids.slice(cut));
    expect(tok.decode(ids.slice(0, cut)) + chunks.map((c) => c.text).join('')).toBe(tok.decode(ids));
  });
});
