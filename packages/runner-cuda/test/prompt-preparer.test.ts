import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { chatMessages } from '../src/chat/chat-prompt.js';
import { PromptPreparer, TEMPLATE_MEMORY_LIMIT } from '../src/prompt/prompt-preparer.js';
import { errorOf } from './helpers/error-of.js';
import { modelDir } from './helpers/paths.js';
import { editJson } from './helpers/runner.js';
import { tinyTokenizer } from './helpers/tokenizer.js';

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function withTemplate(template: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'inferkit-preparer-'));
  temps.push(dir);
  cpSync(modelDir('llama-gqa'), dir, { recursive: true });
  editJson(join(dir, 'tokenizer_config.json'), (t) => (t.chat_template = template));
  return dir;
}

const BIG = { maxPromptBytes: Number.MAX_SAFE_INTEGER, maxContextTokens: 1 << 20 };
const user = (content: string) => chatMessages([{ role: 'user', content }]);

describe('PromptPreparer', () => {
  test('gives the same ids as the tokenizer on the rendered template; reports the bytes-per-token bound', async () => {
    const tok = await tinyTokenizer('llama-gqa');
    const p = await PromptPreparer.start({ kind: 'directory', dir: modelDir('llama-gqa') });
    try {
      const ids = await p.prepare(user('hello there'), BIG);
      expect(Array.from(ids)).toEqual(tok.encode('<|begin_of_text|><|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n', false));
      // Byte-level vocabulary, no normalizer: the longest entry, in characters (one byte each), or
      // the longest special token in UTF-8 bytes.
      const json = JSON.parse(readFileSync(join(modelDir('llama-gqa'), 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: Array<{ content: string }> };
      const longest = Math.max(...Object.keys(json.model.vocab).map((t) => [...t].length), ...json.added_tokens.map((t) => Buffer.byteLength(t.content)));
      expect(longest).toBeGreaterThanOrEqual(17); // '<|begin_of_text|>'
      expect(p.promptBytesPerToken).toBe(longest);
      expect(tok.promptBytesPerToken).toBe(longest);
      // Continuation by ids: the generation prompt, then exactly the ids given.
      const open = await p.prepare(chatMessages([{ role: 'user', content: 'hello there' }, { role: 'assistant', content: 'ignored', prefix: true }]), {
        ...BIG,
        continuationTokenIds: [5, 6, 7],
      });
      expect(Array.from(open)).toEqual([...ids, 5, 6, 7]);
    } finally {
      await p.close();
    }
  });

  test('rendered text over maxPromptBytes is context_length_exceeded without tokenizing', async () => {
    const p = await PromptPreparer.start({ kind: 'directory', dir: modelDir('llama-gqa') });
    try {
      const err = await errorOf(p.prepare(user('x'.repeat(1000)), { maxPromptBytes: 900, maxContextTokens: 50, requestId: 'r-1' }));
      expect(err.kind).toBe('context_length_exceeded');
      expect(err.details).toMatchObject({ maxContextTokens: 50 });
      expect(err.requestId).toBe('r-1');
    } finally {
      await p.close();
    }
  });

  test('a template past the heap limit fails with bad_request; a fresh worker serves the next prompt', async () => {
    const template = "{% if messages | length > 1 %}{% for i in range(100000000) %}x{% endfor %}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}";
    const p = await PromptPreparer.start({ kind: 'directory', dir: withTemplate(template) }, { heapMb: 48, templateMs: 120_000 });
    try {
      const two = chatMessages([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]);
      const err = await errorOf(p.prepare(two, BIG));
      expect(err.kind).toBe('bad_request');
      expect(err.details).toMatchObject({ code: TEMPLATE_MEMORY_LIMIT });
      expect((await p.prepare(user('ok'), BIG)).length).toBeGreaterThan(0);
    } finally {
      await p.close();
    }
  });

  test('prompts queue behind busy workers and each gets its own ids', async () => {
    const tok = await tinyTokenizer('llama-gqa');
    const p = await PromptPreparer.start({ kind: 'directory', dir: modelDir('llama-gqa') }, { workers: 2 });
    try {
      const texts = Array.from({ length: 9 }, (_, i) => `prompt number ${i} `.repeat(i * 50 + 1));
      const all = await Promise.all(texts.map((t) => p.prepare(user(t), BIG)));
      all.forEach((ids, i) => expect(Array.from(ids)).toEqual(tok.encode(`<|begin_of_text|><|im_start|>user\n${texts[i]!.trim()}<|im_end|>\n<|im_start|>assistant\n`, false)));
    } finally {
      await p.close();
    }
  });

  test('a tokenizer that cannot load is the loading error; a template that does not parse is bad_request', async () => {
    const broken = mkdtempSync(join(tmpdir(), 'inferkit-preparer-'));
    temps.push(broken);
    expect((await errorOf(PromptPreparer.start({ kind: 'directory', dir: broken }))).kind).toBe('not_found');
    expect((await errorOf(PromptPreparer.start({ kind: 'directory', dir: withTemplate('{% for %}') }))).kind).toBe('bad_request');
  });
});
