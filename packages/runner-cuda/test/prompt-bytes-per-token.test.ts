import { describe, expect, test } from 'vitest';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';
import { promptBytesPerToken } from '../src/tokenizer/prompt-bytes-per-token.js';
import { TOKENIZER_GGUFS, tokenizerGguf } from './helpers/paths.js';

const bpe = (extra: Record<string, unknown> = {}) => ({
  model: { type: 'BPE', vocab: { a: 0, ab: 1, 'ĠĠĠĠ': 2, '▁▁': 3 }, merges: [] },
  added_tokens: [{ id: 4, content: '<|im_end|>' }],
  ...extra,
});

describe('promptBytesPerToken', () => {
  test('byte-level vocabularies count characters (one byte each); others count UTF-8 bytes', () => {
    expect(promptBytesPerToken(bpe({ pre_tokenizer: { type: 'ByteLevel' } }))).toBe(10); // '<|im_end|>'
    expect(promptBytesPerToken(bpe({ added_tokens: [], pre_tokenizer: { type: 'ByteLevel' } }))).toBe(4); // 'ĠĠĠĠ'
    expect(promptBytesPerToken(bpe({ added_tokens: [], pre_tokenizer: { type: 'Metaspace' } }))).toBe(8); // 'ĠĠĠĠ' in UTF-8
    expect(
      promptBytesPerToken(bpe({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated' }, { type: 'ByteLevel' }] } })),
    ).toBe(10);
  });

  test('normalizers that widen keep the bound; compositions count 4x; anything that can shrink without bound has none', () => {
    const spm = { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] };
    expect(promptBytesPerToken(bpe({ normalizer: spm }))).toBe(10);
    expect(promptBytesPerToken(bpe({ normalizer: { type: 'NFC' } }))).toBe(40);
    expect(promptBytesPerToken(bpe({ normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Lowercase' }] } }))).toBe(160);
    for (const normalizer of [
      { type: 'Strip', strip_left: true, strip_right: true },
      { type: 'StripAccents' },
      { type: 'BertNormalizer' },
      { type: 'Precompiled', precompiled_charsmap: '' },
      { type: 'Replace', pattern: { String: '  ' }, content: ' ' },
      { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
      { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Strip' }] },
    ]) {
      expect(promptBytesPerToken(bpe({ normalizer })), JSON.stringify(normalizer)).toBeUndefined();
    }
    for (const pre_tokenizer of [{ type: 'Whitespace' }, { type: 'WhitespaceSplit' }, { type: 'BertPreTokenizer' }, { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed' }]) {
      expect(promptBytesPerToken(bpe({ pre_tokenizer })), JSON.stringify(pre_tokenizer)).toBeUndefined();
    }
    expect(promptBytesPerToken({ ...bpe(), model: { type: 'BPE', vocab: { a: 0 }, merges: [], fuse_unk: true } })).toBeUndefined();
    expect(promptBytesPerToken({ model: { type: 'WordPiece', vocab: { a: 0 } } })).toBeUndefined();
    expect(promptBytesPerToken({ model: { type: 'Unigram', vocab: [['a', 0]] } })).toBeUndefined();
    expect(promptBytesPerToken(null)).toBeUndefined();
  });

  test("GGUF vocabularies (BPE with llama.cpp's splits, SentencePiece) have a bound", async () => {
    for (const name of TOKENIZER_GGUFS) {
      const t = await ModelTokenizer.fromGguf(tokenizerGguf(name));
      expect(t.promptBytesPerToken, name).toBeGreaterThan(0);
      // The bound holds on a sample: no token covers more bytes than it says.
      const text = 'Hello world, 1234567890 the quick brown fox — café 東京 😀\n\n\tend';
      expect(t.encode(text, false).length, name).toBeGreaterThanOrEqual(Math.floor(Buffer.byteLength(text) / t.promptBytesPerToken!));
    }
  });
});
