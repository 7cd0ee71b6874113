// The committed checkpoint is loadable by the tools users have: its files are the shapes the
// Hugging Face ecosystem expects, @huggingface/tokenizers encodes exactly as the Python trainer
// did, and the chat template renders what the model was trained on.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, test } from 'vitest';
import { MODEL_DIR, expected, readSafetensorsHeader } from './model-fixture.mjs';

const json = (f) => JSON.parse(readFileSync(join(MODEL_DIR, f), 'utf8'));
const config = json('config.json');
const tokenizerConfig = json('tokenizer_config.json');
const tokenizer = new Tokenizer(json('tokenizer.json'), tokenizerConfig);

describe('models/inferkit-tiny files', () => {
  test('committed files stay within 20 MB', () => {
    const files = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'parity/expected.json'];
    const total = files.reduce((n, f) => n + statSync(join(MODEL_DIR, f)).size, 0);
    expect(total).toBeLessThanOrEqual(20 * 1000 * 1000);
  });

  test('config.json describes a Llama checkpoint', () => {
    expect(config.model_type).toBe('llama');
    expect(config.architectures).toEqual(['LlamaForCausalLM']);
    expect(config.hidden_size / config.num_attention_heads).toBe(config.head_dim);
    expect(config.num_attention_heads % config.num_key_value_heads).toBe(0);
  });

  test('model.safetensors holds every HF Llama tensor with the configured shape', () => {
    const header = readSafetensorsHeader(join(MODEL_DIR, 'model.safetensors'));
    const { hidden_size: h, intermediate_size: i, vocab_size: v, head_dim: d, num_attention_heads: nh, num_key_value_heads: nkv } = config;
    const want = {
      'model.embed_tokens.weight': [v, h],
      'model.norm.weight': [h],
      'lm_head.weight': [v, h],
    };
    for (let l = 0; l < config.num_hidden_layers; l++) {
      const p = `model.layers.${l}`;
      Object.assign(want, {
        [`${p}.input_layernorm.weight`]: [h],
        [`${p}.post_attention_layernorm.weight`]: [h],
        [`${p}.self_attn.q_proj.weight`]: [nh * d, h],
        [`${p}.self_attn.k_proj.weight`]: [nkv * d, h],
        [`${p}.self_attn.v_proj.weight`]: [nkv * d, h],
        [`${p}.self_attn.o_proj.weight`]: [h, nh * d],
        [`${p}.mlp.gate_proj.weight`]: [i, h],
        [`${p}.mlp.up_proj.weight`]: [i, h],
        [`${p}.mlp.down_proj.weight`]: [h, i],
      });
    }
    const { __metadata__: meta, ...tensors } = header;
    expect(meta).toEqual({ format: 'pt' });
    expect(Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.shape]))).toEqual(want);
    expect(Object.values(tensors).every((t) => t.dtype === 'F32')).toBe(true);
  });

  test('@huggingface/tokenizers encodes the parity prompts to the trainer ids and decodes the continuations', () => {
    for (const c of expected.cases) {
      const text = c.text ?? c.rendered;
      expect(tokenizer.encode(text, { add_special_tokens: false }).ids, c.name).toEqual(c.prompt_ids);
      expect(tokenizer.decode(c.greedy_ids), c.name).toBe(c.greedy_text);
    }
  });

  test('byte-level BPE round-trips text outside the training alphabet', () => {
    const text = 'Zoë’s café — 12 °C, 東京 🚀\n\tand\u00a0spaces  ';
    expect(tokenizer.decode(tokenizer.encode(text, { add_special_tokens: false }).ids)).toBe(text);
  });

  test('the chat template renders the ChatML the model was trained on', () => {
    for (const c of expected.cases.filter((x) => x.messages !== undefined)) {
      const rendered = new Template(tokenizerConfig.chat_template).render({ messages: c.messages, add_generation_prompt: true });
      expect(rendered).toBe(c.rendered);
    }
  });

  test('special tokens and end-of-sequence ids agree across the files', () => {
    const vocab = json('tokenizer.json').model.vocab;
    const gen = json('generation_config.json');
    expect(gen.eos_token_id).toEqual([vocab['<|im_end|>'], vocab['<|endoftext|>']]);
    expect(config.eos_token_id).toEqual(gen.eos_token_id);
    expect(tokenizerConfig.eos_token).toBe('<|im_end|>');
    expect(Object.keys(vocab).length).toBe(config.vocab_size);
  });
});
