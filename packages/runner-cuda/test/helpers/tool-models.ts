import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { INFERKIT_TINY_DIR } from './paths.js';

/**
 * A copy of models/inferkit-tiny with another chat template (weights and configs linked, the
 * tokenizer files rewritten). `renameSpecial` gives control tokens new text, e.g. to make
 * `<|im_start|>` Mistral's `[TOOL_CALLS]`.
 */
export function tinyModelWithTemplate(template: string, renameSpecial: Record<string, string> = {}): { dir: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'inferkit-tools-'));
  const dir = join(root, 'model');
  mkdirSync(dir);
  for (const f of ['model.safetensors', 'config.json', 'generation_config.json']) symlinkSync(join(INFERKIT_TINY_DIR, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(INFERKIT_TINY_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const tokenizer = JSON.parse(readFileSync(join(INFERKIT_TINY_DIR, 'tokenizer.json'), 'utf8')) as {
    added_tokens: Array<{ content: string }>;
    model: { vocab: Record<string, number> };
  };
  for (const [from, to] of Object.entries(renameSpecial)) {
    const added = tokenizer.added_tokens.find((t) => t.content === from);
    if (added === undefined) throw new Error(`no added token ${from}`);
    added.content = to;
    const id = tokenizer.model.vocab[from]!;
    delete tokenizer.model.vocab[from];
    tokenizer.model.vocab[to] = id;
    const decoder = config.added_tokens_decoder as Record<string, { content: string }>;
    decoder[String(id)]!.content = to;
  }
  config.chat_template = template;
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  return { dir, remove: () => rmSync(root, { recursive: true, force: true }) };
}
