import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InferenceError } from '@inferkit/inference-core';
import { Tokenizer } from '@huggingface/tokenizers';
import { readGgufMetadata, type GgufMetadata } from '../weights/gguf-metadata.js';
import { vocabularyBytes, type VocabularyBytes } from '../grammar/vocabulary-bytes.js';
import { ggufTokenizerSpec } from './gguf-tokenizer-json.js';
import { promptBytesPerToken } from './prompt-bytes-per-token.js';

/** `tokenizer_config.json` fields we read; special tokens may be strings or AddedToken objects. */
interface TokenizerConfig {
  bos_token?: string | { content?: string } | null;
  eos_token?: string | { content?: string } | null;
  add_bos_token?: boolean;
  chat_template?: string | Array<{ name?: string; template?: string }> | null;
  [key: string]: unknown;
}

function tokenContent(t: TokenizerConfig['bos_token']): string | undefined {
  if (typeof t === 'string') return t;
  if (t !== null && typeof t === 'object' && typeof t.content === 'string') return t.content;
  return undefined;
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (e) {
    if (!required && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new InferenceError('not_found', `cannot read ${path}: ${(e as Error).message}`, { details: { resource: path }, cause: e });
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (e) {
    throw new InferenceError('bad_request', `${path} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** Where a tokenizer was read from: enough for another thread to read the same one (`fromOrigin`). */
export type TokenizerOrigin = { kind: 'directory'; dir: string } | { kind: 'gguf'; file: string };

/** What a `ModelTokenizer` is made of, whichever files it came from. */
interface ModelTokenizerParts {
  origin: TokenizerOrigin;
  /** The tokenizer.json document the tokenizer was built from (read, not kept). */
  json: unknown;
  bosToken: string | undefined;
  eosToken: string | undefined;
  addBosToken: boolean;
  chatTemplate: string | undefined;
  /** Ids that end generation besides the engine's own (from config.json or the GGUF). */
  stopTokenIds: number[];
}

/**
 * A model's tokenizer, special tokens and chat template: from a Hugging Face model directory
 * (`tokenizer.json`, `tokenizer_config.json` or `chat_template.jinja`), or converted from the
 * metadata of a GGUF file.
 */
export class ModelTokenizer {
  /** BOS token text, if the model has one. */
  readonly bosToken: string | undefined;
  /** EOS token text, if the model has one. */
  readonly eosToken: string | undefined;
  /** Id of `eosToken`, if it is in the vocabulary. */
  readonly eosTokenId: number | undefined;
  /** Whether a plain (template-less) prompt starts with BOS. */
  readonly addBosToken: boolean;
  /** The Jinja chat template; `undefined` when the model ships none. */
  readonly chatTemplate: string | undefined;
  /** Token ids that end generation: EOS and, for GGUF files, llama.cpp's end-of-generation set. */
  readonly stopTokenIds: readonly number[];
  /** Where it was read from. */
  readonly origin: TokenizerOrigin;
  /**
   * Most prompt bytes one token can stand for (a prompt of B bytes is at least B / this many
   * tokens), or `undefined` when the tokenizer can shrink text without bound (`promptBytesPerToken`).
   */
  readonly promptBytesPerToken: number | undefined;

  private readonly tokenizer: Tokenizer;

  private constructor(tokenizer: Tokenizer, parts: ModelTokenizerParts) {
    this.tokenizer = tokenizer;
    this.bosToken = parts.bosToken;
    this.eosToken = parts.eosToken;
    this.eosTokenId = this.eosToken !== undefined ? tokenizer.token_to_id(this.eosToken) : undefined;
    this.addBosToken = parts.addBosToken;
    this.chatTemplate = parts.chatTemplate;
    const stops = new Set(parts.stopTokenIds);
    if (this.eosTokenId !== undefined) stops.add(this.eosTokenId);
    this.stopTokenIds = [...stops].sort((a, b) => a - b);
    this.origin = parts.origin;
    this.promptBytesPerToken = promptBytesPerToken(parts.json);
  }

  /** Reads the tokenizer again from where `origin` says another one came from. */
  static fromOrigin(origin: TokenizerOrigin): Promise<ModelTokenizer> {
    return origin.kind === 'directory' ? ModelTokenizer.fromDirectory(origin.dir) : ModelTokenizer.fromGguf(origin.file);
  }

  /** Reads the tokenizer files of a Hugging Face model directory. */
  static async fromDirectory(dir: string): Promise<ModelTokenizer> {
    const json = await readJson(join(dir, 'tokenizer.json'), true);
    const config = ((await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {}) as TokenizerConfig;
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new InferenceError('bad_request', `${join(dir, 'tokenizer_config.json')} must hold a JSON object`);
    }
    let template: string | undefined;
    const ct = config.chat_template;
    if (typeof ct === 'string') template = ct;
    else if (Array.isArray(ct)) template = (ct.find((t) => t.name === 'default') ?? ct[0])?.template;
    if (template === undefined) {
      try {
        template = await readFile(join(dir, 'chat_template.jinja'), 'utf8');
      } catch {
        // No template file either: the runner's plain template applies.
      }
    }
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json as object, config);
    } catch (e) {
      throw new InferenceError('bad_request', `${join(dir, 'tokenizer.json')} cannot be used: ${(e as Error).message}`, { cause: e });
    }
    return new ModelTokenizer(tokenizer, {
      origin: { kind: 'directory', dir },
      json,
      bosToken: tokenContent(config.bos_token),
      eosToken: tokenContent(config.eos_token),
      addBosToken: config.add_bos_token === true,
      chatTemplate: template,
      stopTokenIds: [],
    });
  }

  /** Converts the vocabulary in a GGUF file's metadata (`path`, or metadata already read). */
  static async fromGguf(source: string | GgufMetadata): Promise<ModelTokenizer> {
    const meta = typeof source === 'string' ? await readGgufMetadata(source) : source;
    const spec = ggufTokenizerSpec(meta);
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(spec.json, spec.config);
    } catch (e) {
      throw new InferenceError('bad_request', `${meta.file}: the GGUF vocabulary cannot be used: ${(e as Error).message}`, { cause: e, details: { param: 'source.path' } });
    }
    if (spec.pairRanks !== undefined) setPairRanks(tokenizer, spec.pairRanks);
    return new ModelTokenizer(tokenizer, {
      origin: { kind: 'gguf', file: meta.path },
      json: spec.json,
      bosToken: spec.bosToken,
      eosToken: spec.eosToken,
      addBosToken: spec.addBos,
      chatTemplate: spec.chatTemplate,
      stopTokenIds: spec.stopTokenIds,
    });
  }

  /** Text → token ids. `addSpecialTokens` runs the tokenizer's post-processor (e.g. adds BOS). */
  encode(text: string, addSpecialTokens: boolean): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  /** Token ids → text, without special tokens (EOS and friends never show up in output text). */
  decode(ids: number[]): string {
    // tokenizers.js rejects an empty id list; the detokenizer asks for one at every fresh window.
    if (ids.length === 0) return '';
    return this.tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /** Id of a token string (e.g. `'<|im_end|>'`), if it is in the vocabulary. */
  tokenId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** The bytes each token adds to the output, for the engine's constrained decoding. */
  vocabularyBytes(): VocabularyBytes {
    return vocabularyBytes(this.tokenizer);
  }

  /** Whether token `id` is a control token (EOS, `<|im_start|>`, ...), dropped from decoded text. */
  isSpecialToken(id: number): boolean {
    return this.tokenizer.get_added_tokens_decoder().get(id)?.special === true;
  }
}

/**
 * Gives merges of equal score equal ranks in a loaded BPE model, so that, as in llama.cpp's
 * SentencePiece tokenizer, the leftmost of several equally scored pairs merges first
 * (tokenizers.js breaks rank ties by position). This reaches into the model's `bpe_ranks` map
 * (keys `JSON.stringify([left, right])`), a field of @huggingface/tokenizers 0.2.0, the pinned
 * version; a version without it fails loudly here instead of tokenizing differently.
 */
function setPairRanks(tokenizer: Tokenizer, ranks: Map<string, number>): void {
  const model = (tokenizer as unknown as { model?: { bpe_ranks?: unknown } }).model;
  const current = model?.bpe_ranks;
  if (!(current instanceof Map) || current.size !== ranks.size) {
    throw new InferenceError('internal', '@huggingface/tokenizers has no bpe_ranks map of the expected size; SentencePiece GGUF vocabularies need version 0.2.0');
  }
  for (const [key, rank] of ranks) {
    if (!current.has(key)) throw new InferenceError('internal', '@huggingface/tokenizers keys bpe_ranks differently than version 0.2.0; SentencePiece GGUF vocabularies need that version');
    current.set(key, rank);
  }
}
