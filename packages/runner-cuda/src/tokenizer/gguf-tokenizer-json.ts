import { InferenceError } from '@inferkit/inference-core';
import { GgufType, type GgufMetadata } from '../weights/gguf-metadata.js';
import { GGUF_PRE_TOKENIZERS, preTokenizerJson } from './gguf-pre-tokenizers.js';

// llama.cpp's token types (`llama_token_type`).
const TOKEN_UNKNOWN = 2;
const TOKEN_CONTROL = 3;
const TOKEN_USER_DEFINED = 4;

// Texts llama.cpp marks as control tokens whatever their type, and the subset that ends
// generation (src/llama-vocab.cpp, "auto-detect special tokens by text" and `special_eog_ids`).
const EOG_TEXTS = [
  '<|eot_id|>', '<|im_end|>', '<|end|>', '<|return|>', '<|call|>', '<|flush|>', '<|calls|>', '<end_of_turn>', '<|endoftext|>',
  '</s>', '<|eom_id|>', '<EOT>', '_<EOT>', '[EOT]', '[EOS]', '<|end_of_text|>', '<end_of_utterance>', '<eos>', '<turn|>',
  '<|tool_response>', '<｜end▁of▁sentence｜>', '[e~[',
];
const FIM_TEXTS: ReadonlyArray<[key: string, texts: string[]]> = [
  ['fim_pre', ['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>']],
  ['fim_suf', ['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>']],
  ['fim_mid', ['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>']],
  ['fim_pad', ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']],
  ['fim_rep', ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']],
  ['fim_sep', ['<|file_sep|>']],
];
const EOT_TEXTS = ['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>'];

const SPACE_MARK = '\u2581';

/** A GGUF vocabulary converted for `@huggingface/tokenizers`, with what the runner needs besides. */
export interface GgufTokenizerSpec {
  /** A tokenizer.json document. */
  json: Record<string, unknown>;
  /** tokenizer_config.json fields the tokenizer reads. */
  config: Record<string, unknown>;
  bosToken: string | undefined;
  eosToken: string | undefined;
  eosTokenId: number | undefined;
  addBos: boolean;
  /** llama.cpp's end-of-generation set: EOS, EOT, EOM and the tokens it recognizes by text. */
  stopTokenIds: number[];
  chatTemplate: string | undefined;
  /**
   * SentencePiece vocabularies only: the merge rank each pair must have. llama.cpp merges the
   * pair whose result scores highest and, on equal scores, the leftmost one; a merges list can
   * only order pairs strictly, so pairs with equal scores get equal ranks after loading.
   */
  pairRanks: Map<string, number> | undefined;
}

/**
 * Builds the tokenizer of a GGUF file from its metadata: `tokenizer.ggml.model` `gpt2` (byte-level
 * BPE; the split chosen by `tokenizer.ggml.pre`) or `llama` (SentencePiece with byte fallback),
 * reproducing llama.cpp's `llama_tokenize(text, add_special, parse_special = true)`.
 * @throws InferenceError `bad_request` naming the key for missing, mistyped or unsupported metadata.
 */
export function ggufTokenizerSpec(meta: GgufMetadata): GgufTokenizerSpec {
  const model = meta.string('tokenizer.ggml.model', true);
  if (model !== 'gpt2' && model !== 'llama') {
    throw meta.error('tokenizer.ggml.model', `is ${JSON.stringify(model)}; runner-cuda converts 'gpt2' (BPE) and 'llama' (SentencePiece) vocabularies`);
  }
  const tokens = meta.stringArray('tokenizer.ggml.tokens', true);
  const n = tokens.length;
  if (n === 0) throw meta.error('tokenizer.ggml.tokens', 'is empty');
  const types = meta.numericArray('tokenizer.ggml.token_type', [GgufType.INT32]);
  if (types !== undefined && types.length < n) throw meta.error('tokenizer.ggml.token_type', `has ${types.length} entries for ${n} tokens`);
  const scores = meta.numericArray('tokenizer.ggml.scores', [GgufType.FLOAT32, GgufType.INT32]);
  if (scores !== undefined && scores.length < n) throw meta.error('tokenizer.ggml.scores', `has ${scores.length} entries for ${n} tokens`);

  // llama.cpp renames empty tokens and refuses duplicates (it asserts one id per text).
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>;
  const text = tokens.map((t, i) => (t === '' ? `[EMPTY_${i}]` : t));
  for (let i = 0; i < n; i++) {
    const t = text[i]!;
    if (vocab[t] !== undefined) throw meta.error('tokenizer.ggml.tokens', `holds ${JSON.stringify(t)} twice (ids ${vocab[t]} and ${i})`);
    vocab[t] = i;
  }
  const idOf = (t: string): number | undefined => vocab[t];
  const tokenType = (i: number) => (types === undefined ? 1 : Number(types[i]));

  // Special ids: llama.cpp's per-model defaults, replaced by the file's keys when in range.
  const spm = model === 'llama';
  const idKey = (name: string, fallback: number | undefined): number | undefined => {
    const v = meta.uint(`tokenizer.ggml.${name}_token_id`);
    if (v !== undefined && v < n) return v;
    return fallback !== undefined && fallback < n ? fallback : undefined;
  };
  // The BPE default of 11 is llama.cpp's (GPT-NeoX's "<|endoftext|>"); a file with its own ids overrides it.
  const bosId = idKey('bos', spm ? 1 : 11);
  const eosId = idKey('eos', spm ? 2 : 11);
  const unkId = idKey('unknown', spm ? 0 : undefined);
  const eotKey = idKey('eot', undefined);
  const eomKey = idKey('eom', undefined);

  let pre = GGUF_PRE_TOKENIZERS.default!;
  if (!spm) {
    const name = meta.string('tokenizer.ggml.pre') ?? 'default';
    const found = Object.hasOwn(GGUF_PRE_TOKENIZERS, name) ? GGUF_PRE_TOKENIZERS[name] : undefined;
    if (found === undefined) {
      throw meta.error(
        'tokenizer.ggml.pre',
        `is ${JSON.stringify(name)}, a pre-tokenizer runner-cuda does not reproduce; supported: ${Object.keys(GGUF_PRE_TOKENIZERS).join(', ')}`,
      );
    }
    pre = found;
  }
  const addBos = meta.bool('tokenizer.ggml.add_bos_token') ?? (spm ? true : pre.addBosDefault);
  const addEos = meta.bool('tokenizer.ggml.add_eos_token') ?? false;
  const addSpacePrefix = spm && (meta.bool('tokenizer.ggml.add_space_prefix') ?? true);
  if (addBos && bosId === undefined) throw meta.error('tokenizer.ggml.add_bos_token', 'is set but the vocabulary has no BOS token');
  if (addEos && eosId === undefined) throw meta.error('tokenizer.ggml.add_eos_token', 'is set but the vocabulary has no EOS token');

  // Tokens split out of text before the model runs: control, user-defined and unknown types,
  // plus the texts llama.cpp promotes to control.
  const control = new Set<number>();
  const userDefined = new Set<number>();
  for (let i = 0; i < n; i++) {
    const t = tokenType(i);
    if (t === TOKEN_CONTROL || t === TOKEN_UNKNOWN) control.add(i);
    else if (t === TOKEN_USER_DEFINED) userDefined.add(i);
  }
  const promote = (t: string) => {
    const id = idOf(t);
    if (id !== undefined) {
      control.add(id);
      userDefined.delete(id);
    }
    return id;
  };
  for (const t of [...EOG_TEXTS, ...EOT_TEXTS]) promote(t);
  if (meta.uint('tokenizer.ggml.eom_token_id') === undefined) promote('<|eom_id|>');
  for (const [key, texts] of FIM_TEXTS) {
    if (idKey(key, undefined) === undefined) for (const t of texts) promote(t);
  }

  const stops = new Set<number>();
  for (const t of EOG_TEXTS) {
    const id = idOf(t);
    if (id !== undefined) stops.add(id);
  }
  for (const id of [eosId, eotKey, eomKey]) if (id !== undefined) stops.add(id);

  const addedTokens = [...control, ...userDefined]
    .sort((a, b) => a - b)
    .map((id) => ({ id, content: text[id]!, single_word: false, lstrip: false, rstrip: false, normalized: false, special: control.has(id) }));

  const special = (id: number | undefined) => (id === undefined ? [] : [{ SpecialToken: { id: text[id]!, type_id: 0 } }]);
  const postProcessor =
    addBos || addEos
      ? {
          type: 'TemplateProcessing',
          single: [...special(addBos ? bosId : undefined), { Sequence: { id: 'A', type_id: 0 } }, ...special(addEos ? eosId : undefined)],
          pair: [
            ...special(addBos ? bosId : undefined),
            { Sequence: { id: 'A', type_id: 0 } },
            ...special(addEos ? eosId : undefined),
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: {},
        }
      : null;

  let json: Record<string, unknown>;
  let pairRanks: Map<string, number> | undefined;
  if (spm) {
    if (scores === undefined) throw meta.error('tokenizer.ggml.scores', 'is missing; a SentencePiece vocabulary needs its scores');
    for (let i = 0; i < n; i++) if (!Number.isFinite(scores[i])) throw meta.error('tokenizer.ggml.scores', `has a non-finite score at index ${i}`);
    const built = spmMerges(text, Array.from(scores as Float32Array | Int32Array), vocab);
    pairRanks = built.ranks;
    json = {
      version: '1.0',
      added_tokens: addedTokens,
      normalizer: {
        type: 'Sequence',
        normalizers: [
          ...(addSpacePrefix ? [{ type: 'Prepend', prepend: SPACE_MARK }] : []),
          { type: 'Replace', pattern: { String: ' ' }, content: SPACE_MARK },
        ],
      },
      pre_tokenizer: null,
      model: bpeModel(vocab, built.merges, { byteFallback: true, ignoreMerges: false, unk: unkId === undefined ? null : text[unkId]! }),
      post_processor: postProcessor,
      decoder: {
        type: 'Sequence',
        decoders: [
          { type: 'Replace', pattern: { String: SPACE_MARK }, content: ' ' },
          { type: 'ByteFallback' },
          { type: 'Fuse' },
          ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
        ],
      },
    };
  } else {
    const rawMerges = meta.stringArray('tokenizer.ggml.merges');
    if (rawMerges === undefined) throw meta.error('tokenizer.ggml.merges', 'is missing; a BPE vocabulary needs its merges');
    json = {
      version: '1.0',
      added_tokens: addedTokens,
      normalizer: null,
      pre_tokenizer: preTokenizerJson(pre),
      model: bpeModel(vocab, bpeMerges(rawMerges), { byteFallback: false, ignoreMerges: pre.ignoreMerges, unk: null }),
      post_processor: postProcessor,
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
    };
  }

  const template = meta.string('tokenizer.chat_template');
  return {
    json,
    config: { clean_up_tokenization_spaces: false },
    bosToken: bosId === undefined ? undefined : text[bosId],
    eosToken: eosId === undefined ? undefined : text[eosId],
    eosTokenId: eosId,
    addBos,
    stopTokenIds: [...stops].sort((a, b) => a - b),
    chatTemplate: template === '' ? undefined : template,
    pairRanks,
  };
}

function bpeModel(vocab: Record<string, number>, merges: Array<[string, string]>, o: { byteFallback: boolean; ignoreMerges: boolean; unk: string | null }): object {
  return {
    type: 'BPE',
    dropout: null,
    unk_token: o.unk,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: o.byteFallback,
    ignore_merges: o.ignoreMerges,
    vocab,
    merges,
  };
}

/**
 * GGUF merges are "left right" strings split at the first space after the first character, as
 * llama.cpp splits them; a pair listed twice keeps its first (lowest) rank, as in llama.cpp's map.
 */
function bpeMerges(raw: string[]): Array<[string, string]> {
  const seen = new Set<string>();
  const out: Array<[string, string]> = [];
  for (const m of raw) {
    const at = m.indexOf(' ', 1);
    if (at < 0) continue; // llama.cpp records an empty pair that never matches
    const pair: [string, string] = [m.slice(0, at), m.slice(at + 1)];
    const key = JSON.stringify(pair);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(pair);
  }
  return out;
}

/**
 * llama.cpp's SentencePiece tokenizer starts from single characters and repeatedly merges the
 * adjacent pair whose concatenation is a token with the highest score. As BPE merges: every split
 * of every token into two symbols the algorithm can hold (tokens, or single characters even when
 * not in the vocabulary), ranked by the token's score, highest first.
 */
function spmMerges(text: string[], scores: number[], vocab: Record<string, number>): { merges: Array<[string, string]>; ranks: Map<string, number> } {
  const distinct = [...new Set(scores)].sort((a, b) => b - a);
  const scoreRank = new Map(distinct.map((s, i) => [s, i]));
  const symbol = (s: string) => vocab[s] !== undefined || (s.length <= 2 && [...s].length === 1);
  const found: Array<{ pair: [string, string]; rank: number; left: number; right: number }> = [];
  for (let id = 0; id < text.length; id++) {
    const t = text[id]!;
    const chars = Array.from(t);
    if (chars.length < 2) continue;
    const rank = scoreRank.get(scores[id]!)!;
    let offset = 0;
    for (let k = 1; k < chars.length; k++) {
      offset += chars[k - 1]!.length;
      const left = t.slice(0, offset);
      const right = t.slice(offset);
      if (symbol(left) && symbol(right)) found.push({ pair: [left, right], rank, left: vocab[left] ?? -1, right: vocab[right] ?? -1 });
    }
  }
  found.sort((a, b) => a.rank - b.rank || a.left - b.left || a.right - b.right);
  const ranks = new Map<string, number>();
  for (const f of found) ranks.set(JSON.stringify(f.pair), f.rank);
  return { merges: found.map((f) => f.pair), ranks };
}
