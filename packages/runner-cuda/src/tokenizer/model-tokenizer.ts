import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceError } from '@inferkit/inference-core';
import { Tokenizer } from '@huggingface/tokenizers';

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

/**
 * A model's tokenizer (`tokenizer.json`), its special tokens and chat template
 * (`tokenizer_config.json`, or `chat_template.jinja` as written by newer transformers).
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

  private readonly tokenizer: Tokenizer;

  private constructor(tokenizer: Tokenizer, config: TokenizerConfig, chatTemplate: string | undefined) {
    this.tokenizer = tokenizer;
    this.bosToken = tokenContent(config.bos_token);
    this.eosToken = tokenContent(config.eos_token);
    this.eosTokenId = this.eosToken !== undefined ? tokenizer.token_to_id(this.eosToken) : undefined;
    this.addBosToken = config.add_bos_token === true;
    this.chatTemplate = chatTemplate;
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
    return new ModelTokenizer(tokenizer, config, template);
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
}
