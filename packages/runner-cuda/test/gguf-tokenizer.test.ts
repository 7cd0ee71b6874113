import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChatPrompt, PLAIN_CHAT_TEMPLATE } from '../src/chat/chat-prompt.js';
import { ModelTokenizer } from '../src/tokenizer/model-tokenizer.js';
import { readGgufMetadata } from '../src/weights/gguf-metadata.js';
import { errorOf } from './helpers/error-of.js';
import { ggufFile, kv, type KvValue } from './helpers/gguf-bytes.js';
import { INFERKIT_TINY_DIR, INFERKIT_TINY_GGUF, tokenizerGguf } from './helpers/paths.js';
import { TOKENIZER_TEXTS } from './helpers/tokenizer-texts.js';

let dir: string;
let seq = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inferkit-gguf-tok-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A GGUF file holding a small BPE vocabulary, with `edit` applied to its keys. */
function vocabFile(edit: (keys: Map<string, KvValue>) => void = () => {}): string {
  const keys = new Map<string, KvValue>([
    ['tokenizer.ggml.model', { t: 'str', v: 'gpt2' }],
    ['tokenizer.ggml.pre', { t: 'str', v: 'gpt-2' }],
    ['tokenizer.ggml.tokens', { t: 'strs', v: ['a', 'b', 'ab', '<|im_end|>', '<s>'] }],
    ['tokenizer.ggml.token_type', { t: 'i32s', v: [1, 1, 1, 3, 3] }],
    ['tokenizer.ggml.merges', { t: 'strs', v: ['a b'] }],
    ['tokenizer.ggml.bos_token_id', { t: 'u32', v: 4 }],
    ['tokenizer.ggml.eos_token_id', { t: 'u32', v: 3 }],
  ]);
  edit(keys);
  const p = join(dir, `v${++seq}.gguf`);
  writeFileSync(p, ggufFile([...keys].map(([k, v]) => kv(k, v))));
  return p;
}

const prompt = (t: ModelTokenizer) => new ChatPrompt(t.chatTemplate, { bosToken: t.bosToken, eosToken: t.eosToken, addBos: t.addBosToken });

describe('ModelTokenizer.fromGguf', () => {
  test('the exported demo model: same ids, specials, stop tokens and chat prompt as its tokenizer.json', async () => {
    const fromGguf = await ModelTokenizer.fromGguf(INFERKIT_TINY_GGUF);
    const fromDir = await ModelTokenizer.fromDirectory(INFERKIT_TINY_DIR);
    // tokenizers.js's ByteLevel pre-tokenizer splits with JS's \s, which differs from the
    // tokenizer.json semantics (Rust \s) on U+0085 and U+FEFF; the GGUF conversion follows llama.cpp.
    for (const [label, text] of TOKENIZER_TEXTS) {
      expect(fromGguf.encode(text, false), label).toEqual(fromDir.encode(text, false));
    }
    expect(fromGguf.eosToken).toBe('<|im_end|>');
    expect(fromGguf.eosTokenId).toBe(fromDir.eosTokenId);
    expect(fromGguf.chatTemplate).toBe(fromDir.chatTemplate);
    expect(fromGguf.addBosToken).toBe(false);
    // <|im_end|> (EOS) and <|endoftext|>, which llama.cpp also treats as end of generation.
    expect(fromGguf.stopTokenIds).toEqual([0, 2]);
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Tell me a story.' }];
    expect(prompt(fromGguf).render(messages)).toBe(prompt(fromDir).render(messages));
    const ids = fromGguf.encode('Once upon a time, there was a cat.', false);
    expect(fromGguf.decode(ids)).toBe('Once upon a time, there was a cat.');
  });

  test("the chat template from tokenizer.chat_template renders with the GGUF's BOS and EOS", async () => {
    const t = await ModelTokenizer.fromGguf(tokenizerGguf('spm'));
    expect(t.bosToken).toBe('<s>');
    expect(t.eosToken).toBe('</s>');
    const text = prompt(t).render([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'hello' },
      { role: 'user', content: 'again' },
    ]);
    expect(text).toBe('<s>[INST] hi [/INST] hello</s>[INST] again [/INST]');
    const ids = t.encode(text, false);
    expect(ids[0]).toBe(t.tokenId('<s>'));
    expect(ids.filter((id) => id === t.tokenId('</s>'))).toHaveLength(1);
  });

  test('without tokenizer.chat_template the plain template applies, with BOS when add_bos_token says so', async () => {
    const noBos = await ModelTokenizer.fromGguf(tokenizerGguf('bpe-gpt2'));
    expect(noBos.chatTemplate).toBeUndefined();
    const p = prompt(noBos);
    expect(p.modelTemplate).toBe(false);
    expect(p.render([{ role: 'user', content: 'hi' }])).toBe('user: hi\nassistant:');
    const withBos = await ModelTokenizer.fromGguf(tokenizerGguf('bpe-llama3'));
    expect(withBos.addBosToken).toBe(true);
    expect(prompt(withBos).render([{ role: 'user', content: 'hi' }])).toBe('<|begin_of_text|>user: hi\nassistant:');
    expect(new ChatPrompt(undefined, { bosToken: '<s>', eosToken: undefined, addBos: true }).render([{ role: 'user', content: 'x' }])).toBe(
      new ChatPrompt(PLAIN_CHAT_TEMPLATE, { bosToken: '<s>', eosToken: undefined, addBos: true }).render([{ role: 'user', content: 'x' }]),
    );
  });

  test('EOS, EOT and EOM ids from the metadata and end-of-generation texts become stop tokens', async () => {
    const t = await ModelTokenizer.fromGguf(
      vocabFile((k) => {
        k.set('tokenizer.ggml.tokens', { t: 'strs', v: ['a', 'b', 'ab', '<|im_end|>', '<s>', '<|eot_id|>', '<|my_eom|>', '</s>'] });
        k.set('tokenizer.ggml.token_type', { t: 'i32s', v: [1, 1, 1, 3, 3, 1, 3, 1] });
        k.set('tokenizer.ggml.eos_token_id', { t: 'u32', v: 2 });
        k.set('tokenizer.ggml.eom_token_id', { t: 'u32', v: 6 });
      }),
    );
    // ab (EOS), <|im_end|> and </s> and <|eot_id|> (by text, as llama.cpp), <|my_eom|> (EOM).
    expect(t.stopTokenIds).toEqual([2, 3, 5, 6, 7]);
    // <|eot_id|> was a normal token in the file; llama.cpp treats it as control, so does the conversion.
    expect(t.encode('a<|eot_id|>b', false)).toEqual([0, 5, 1]);
    expect(t.decode([0, 5, 1])).toBe('ab');
  });

  test('unsupported or malformed vocabularies are bad_request naming the key', async () => {
    const cases: Array<[string, (k: Map<string, KvValue>) => void, RegExp]> = [
      ['unknown pre-tokenizer', (k) => k.set('tokenizer.ggml.pre', { t: 'str', v: 'my-new-model' }), /tokenizer\.ggml\.pre is "my-new-model", a pre-tokenizer runner-cuda does not reproduce; supported: default, gpt-2/],
      ['unsupported model', (k) => k.set('tokenizer.ggml.model', { t: 'str', v: 'bert' }), /tokenizer\.ggml\.model is "bert"/],
      ['no model', (k) => k.delete('tokenizer.ggml.model'), /tokenizer\.ggml\.model is missing/],
      ['tokens of the wrong type', (k) => k.set('tokenizer.ggml.tokens', { t: 'i32s', v: [1, 2] }), /tokenizer\.ggml\.tokens must be an array of strings, found array of i32/],
      ['no tokens', (k) => k.set('tokenizer.ggml.tokens', { t: 'strs', v: [] }), /tokenizer\.ggml\.tokens is empty/],
      ['duplicate token', (k) => k.set('tokenizer.ggml.tokens', { t: 'strs', v: ['a', 'b', 'a', 'x', 'y'] }), /holds "a" twice \(ids 0 and 2\)/],
      ['short token types', (k) => k.set('tokenizer.ggml.token_type', { t: 'i32s', v: [1] }), /token_type has 1 entries for 5 tokens/],
      ['token types as strings', (k) => k.set('tokenizer.ggml.token_type', { t: 'strs', v: ['1', '1', '1', '1', '1'] }), /token_type must be an array of i32/],
      ['BPE without merges', (k) => k.delete('tokenizer.ggml.merges'), /tokenizer\.ggml\.merges is missing/],
      ['special id of the wrong type', (k) => k.set('tokenizer.ggml.bos_token_id', { t: 'str', v: '4' }), /bos_token_id must be an unsigned integer, found string/],
      ['template of the wrong type', (k) => k.set('tokenizer.chat_template', { t: 'u32', v: 1 }), /tokenizer\.chat_template must be a string/],
      ['BOS required but absent', (k) => {
        k.set('tokenizer.ggml.add_bos_token', { t: 'bool', v: true });
        // Out of range: llama.cpp falls back to its BPE default (11), not in this 5-token vocabulary either.
        k.set('tokenizer.ggml.bos_token_id', { t: 'u32', v: 99 });
      }, /add_bos_token is set but the vocabulary has no BOS token/],
      ['SentencePiece without scores', (k) => k.set('tokenizer.ggml.model', { t: 'str', v: 'llama' }), /tokenizer\.ggml\.scores is missing/],
      ['SentencePiece with a NaN score', (k) => {
        k.set('tokenizer.ggml.model', { t: 'str', v: 'llama' });
        k.set('tokenizer.ggml.scores', { t: 'f32s', v: [0, 0, Number.NaN, 0, 0] });
      }, /non-finite score at index 2/],
    ];
    for (const [label, edit, message] of cases) {
      const err = await errorOf(ModelTokenizer.fromGguf(vocabFile(edit)));
      expect(err.kind, label).toBe('bad_request');
      expect(err.message, label).toMatch(message);
      expect(err.message, label).not.toContain(dir);
    }
  });

  test('its origin names the file, so a prompt worker process reads the same tokenizer', async () => {
    const t = await ModelTokenizer.fromGguf(await readGgufMetadata(tokenizerGguf('spm')));
    expect(t.origin).toEqual({ kind: 'gguf', file: tokenizerGguf('spm') });
    const again = await ModelTokenizer.fromOrigin(t.origin);
    const text = TOKENIZER_TEXTS.map(([, x]) => x).join('\n');
    expect(again.encode(text, false)).toEqual(t.encode(text, false));
  });

  test('add_bos_token / add_eos_token decide what encode adds with special tokens', async () => {
    const plain = await ModelTokenizer.fromGguf(vocabFile());
    expect(plain.encode('ab', true)).toEqual([2]);
    const both = await ModelTokenizer.fromGguf(
      vocabFile((k) => {
        k.set('tokenizer.ggml.add_bos_token', { t: 'bool', v: true });
        k.set('tokenizer.ggml.add_eos_token', { t: 'bool', v: true });
      }),
    );
    expect(both.addBosToken).toBe(true);
    expect(both.encode('ab', true)).toEqual([4, 2, 3]);
    expect(both.encode('ab', false)).toEqual([2]);
  });

  test('a file without pre-tokenizer name gets llama.cpp\'s default split', async () => {
    const t = await ModelTokenizer.fromGguf(vocabFile((k) => k.delete('tokenizer.ggml.pre')));
    expect(t.encode('ab', false)).toEqual([2]);
  });
});
