/**
 * The split that each `tokenizer.ggml.pre` value selects in llama.cpp (`llm_tokenizer_bpe`,
 * src/llama-vocab.cpp of the llama.cpp that node-llama-cpp 3.21 builds), as regular expressions
 * applied one after another, each keeping both its matches and the text between them. Patterns
 * are written in the Rust/Oniguruma syntax of tokenizer.json; `@huggingface/tokenizers` maps `\s`
 * to Unicode White_Space, which is llama.cpp's whitespace set (JS's own `\s` differs on U+0085
 * and U+FEFF).
 *
 * Only splits checked token for token against llama.cpp (test/gguf-tokenizer-parity.test.ts)
 * or sharing one of those regex lists under another name are listed; any other value is refused
 * rather than tokenized with a split the model was not trained with.
 */

// The GPT-2 split. llama.cpp lists it without the final `|\s+` but runs a hand-written matcher
// that has that alternative; the full form here is what that matcher does.
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** How llama.cpp pre-tokenizes and flags one family of `tokenizer.ggml.pre` values. */
export interface GgufPreTokenizer {
  /** Regexes applied in order. */
  splits: readonly string[];
  /** A whole pre-token that is in the vocabulary is emitted as is, without merges. */
  ignoreMerges: boolean;
  /** `add_bos` when the file has no `tokenizer.ggml.add_bos_token`. */
  addBosDefault: boolean;
}

const gpt2: GgufPreTokenizer = { splits: [GPT2], ignoreMerges: false, addBosDefault: false };
const llama3: GgufPreTokenizer = { splits: [LLAMA3], ignoreMerges: true, addBosDefault: true };
const qwen2: GgufPreTokenizer = { splits: [QWEN2], ignoreMerges: false, addBosDefault: false };

/** `tokenizer.ggml.pre` → split, for `tokenizer.ggml.model` `gpt2`. */
export const GGUF_PRE_TOKENIZERS: Readonly<Record<string, GgufPreTokenizer>> = {
  // LLAMA_VOCAB_PRE_TYPE_DEFAULT (also what a file without the key gets).
  default: { splits: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'], ignoreMerges: false, addBosDefault: false },
  // LLAMA_VOCAB_PRE_TYPE_GPT2, _MPT, _OLMO, _JAIS, _TRILLION: the GPT-2 split alone.
  'gpt-2': gpt2,
  'phi-2': gpt2,
  'jina-es': gpt2,
  'jina-de': gpt2,
  gigachat: gpt2,
  'jina-v2-es': gpt2,
  'jina-v2-de': gpt2,
  'a.x-4.0': gpt2,
  mellum: gpt2,
  'modern-bert': gpt2,
  exaone4: gpt2,
  mpt: gpt2,
  olmo: gpt2,
  jais: gpt2,
  trillion: gpt2,
  // LLAMA_VOCAB_PRE_TYPE_LLAMA3 (ignore_merges, BOS by default).
  llama3,
  'llama-v3': llama3,
  'llama-bpe': llama3,
  falcon3: llama3,
  'falcon-h1': llama3,
  pixtral: llama3,
  'midm-2.0': llama3,
  lfm2: llama3,
  'jina-v5-nano': llama3,
  // LLAMA_VOCAB_PRE_TYPE_DBRX and _SMAUG: the llama3 split without its flags.
  dbrx: { ...llama3, ignoreMerges: false, addBosDefault: false },
  'smaug-bpe': { ...llama3, ignoreMerges: false, addBosDefault: false },
  // LLAMA_VOCAB_PRE_TYPE_QWEN2 and _STABLELM2, _HUNYUAN, _SOLAR_OPEN.
  qwen2,
  'deepseek-r1-qwen': qwen2,
  kormo: qwen2,
  f2llmv2: qwen2,
  megrez: qwen2,
  stablelm2: qwen2,
  hunyuan: qwen2,
  'solar-open': qwen2,
  // LLAMA_VOCAB_PRE_TYPE_STARCODER and the others that split digits one by one first.
  ...Object.fromEntries(
    ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'].map((name) => [
      name,
      { splits: ['\\p{N}', GPT2], ignoreMerges: false, addBosDefault: false } satisfies GgufPreTokenizer,
    ]),
  ),
  // LLAMA_VOCAB_PRE_TYPE_FALCON.
  falcon: { splits: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'], ignoreMerges: false, addBosDefault: false },
};

/** The tokenizer.json pre-tokenizer for `pre`: the splits, then the GPT-2 byte-to-character map. */
export function preTokenizerJson(pre: GgufPreTokenizer): object {
  return {
    type: 'Sequence',
    pretokenizers: [
      ...pre.splits.map((regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false })),
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    ],
  };
}
