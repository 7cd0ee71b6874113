import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InferenceError, type TokenChunk, type WeightLoadProgress } from '@inferkit/inference-core';
import { testBinary } from '../src/binding/test-binary.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { ADDON_PATH, modelDir, noEosModelDir, SCRIPTS_DIR } from './helpers/paths.js';
import { editedCopy, editJson, loadedRunner, TEST_THREADS, userBatch } from './helpers/runner.js';
import { errorOf } from './helpers/error-of.js';

async function chunksOf(runner: CudaRunner, batch: Parameters<CudaRunner['execute']>[0]): Promise<TokenChunk[]> {
  const out: TokenChunk[] = [];
  for await (const c of await runner.execute(batch)) out.push(c);
  return out;
}

function referenceGreedy(model: string, ids: number[], n: number): number[] {
  const out = execFileSync('python3', [join(SCRIPTS_DIR, 'reference_forward.py'), model, ids.join(','), '--greedy', String(n)], { encoding: 'utf8' });
  return (JSON.parse(out) as { greedy: number[] }).greedy;
}

const temps: string[] = [];
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

describe('CudaRunner on the CPU backend', () => {
  let runner: CudaRunner;
  const progress: WeightLoadProgress[] = [];

  beforeAll(async () => {
    runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    // Without EOS ids every generation runs to maxTokens, whatever the random weights favour.
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') }, { onProgress: (p) => progress.push(p) });
  });
  afterAll(() => runner.close());

  test('reports the device it runs on and the model it loaded; load progress reaches the total', () => {
    expect(runner.runtimeKind()).toBe('cuda');
    expect(runner.transportKind()).toEqual({ kind: 'local', device: 'cpu' });
    expect(runner.modelInfo).toMatchObject({ device: 'cpu', vocabSize: 320, numHeads: 4, numKvHeads: 2, headDim: 16, numLayers: 2 });
    expect(progress.length).toBeGreaterThan(0);
    const last = progress[progress.length - 1]!;
    expect(last.phase).toBe('load');
    expect(last.totalBytes).toBe(statSync(join(noEosModelDir('llama-gqa'), 'model.safetensors')).size);
    expect(last.loadedBytes).toBe(last.totalBytes);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.loadedBytes).toBeGreaterThanOrEqual(progress[i - 1]!.loadedBytes);
  });

  test('greedy output is the numpy reference continuation of the templated prompt, with usage and finish reason', async () => {
    const tok = runner._tokenizer!;
    const promptIds = tok.encode('<|begin_of_text|><|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n', false);
    const expected = referenceGreedy(noEosModelDir('llama-gqa'), promptIds, 12);
    const chunks = await chunksOf(runner, userBatch('hello there', { maxTokens: 12, temperature: 0 }));
    const final = chunks[chunks.length - 1]!;
    expect(final.finishReason).toBe('length');
    expect(final.usage).toMatchObject({ inputTokens: promptIds.length, outputTokens: 12 });
    expect(chunks.slice(0, -1).every((c) => c.finishReason === undefined && c.usage === undefined)).toBe(true);
    expect(chunks.map((c) => c.textDelta).join('')).toBe(tok.decode(expected));
  });

  test('greedy is the default (generation_config.json has no do_sample) and repeatable', async () => {
    const a = await (await runner.execute(userBatch('repeat me', { maxTokens: 16 }))).collect();
    const b = await (await runner.execute(userBatch('repeat me', { maxTokens: 16 }))).collect();
    expect(a.text).toBe(b.text);
    expect(a.text.length).toBeGreaterThan(0);
  });

  test('the same seed gives the same sample; different seeds diverge', async () => {
    const run = async (seed: number) => (await (await runner.execute(userBatch('sample', { maxTokens: 32, temperature: 1.5, seed }))).collect()).text;
    const a = await run(7);
    expect(await run(7)).toBe(a);
    const others = await Promise.all([run(8), run(9), run(10)]);
    expect(others.some((t) => t !== a)).toBe(true);
  });

  test('stop strings end the stream before the stop string, even across chunks', async () => {
    const full = (await (await runner.execute(userBatch('stop test', { maxTokens: 40 }))).collect()).text;
    // A readable 3-character piece from the middle of the output (random weights also emit U+FFFD).
    let cut = -1;
    for (let i = 6; i + 3 <= full.length && cut === -1; i++) if (/^[\x20-\x7e]{3}$/.test(full.slice(i, i + 3))) cut = i;
    expect(cut).toBeGreaterThan(0);
    const stop = full.slice(cut, cut + 3);
    cut = full.indexOf(stop);
    const chunks = await chunksOf(runner, userBatch('stop test', { maxTokens: 40, stop: [stop, 'never-appears'] }));
    const final = chunks[chunks.length - 1]!;
    expect(chunks.map((c) => c.textDelta).join('')).toBe(full.slice(0, cut));
    expect(final.finishReason).toBe('stop');
    expect(final.rawFinishReason).toBe('stop_string');
    expect(final.usage!.outputTokens).toBeLessThan(40);
  });

  test('concurrent requests are batched and each gets exactly its sequential output', async () => {
    const prompts = ['one', 'two two', 'three three three', 'four', 'five five', 'six', 'seven seven seven seven', 'eight'];
    const sequential: string[] = [];
    for (const p of prompts) sequential.push((await (await runner.execute(userBatch(p, { maxTokens: 20 }))).collect()).text);
    const concurrent = await Promise.all(prompts.map(async (p) => (await (await runner.execute(userBatch(p, { maxTokens: 20 }))).collect()).text));
    expect(concurrent).toEqual(sequential);
  });

  test('breaking out of the stream cancels the engine request', async () => {
    const handle = await runner.execute(userBatch('long one', { maxTokens: 200 }));
    let n = 0;
    for await (const c of handle) {
      n += c.textDelta.length;
      if (n > 0) break;
    }
    expect(handle.cancelled).toBe(true);
    // The engine drops the sequence at its next step; a deadline, not a count of polls, so that a
    // loaded machine (slow timers) cannot fail the test.
    for (const end = Date.now() + 10_000; Date.now() < end && (await runner._engine!.stats()).activeSequences > 0; ) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect((await runner._engine!.stats()).activeSequences).toBe(0);
  });

  test('an abort signal fails the stream with cancelled', async () => {
    const ac = new AbortController();
    const handle = await runner.execute(userBatch('abort me', { maxTokens: 200 }), { signal: ac.signal });
    const err = await errorOf(async () => {
      for await (const c of handle) if (c.textDelta !== '') ac.abort();
    });
    expect(err.kind).toBe('cancelled');
    const pre = new AbortController();
    pre.abort();
    expect((await errorOf(runner.execute(userBatch('x'), { signal: pre.signal }))).kind).toBe('cancelled');
  });

  test('invalid requests are bad_request and start no work', async () => {
    const before = (await runner._engine!.stats()).promptTokens;
    const bad = [
      userBatch('x', { temperature: -1 }),
      userBatch('x', { topP: 0 }),
      userBatch('x', { topK: 1.5 }),
      userBatch('x', { maxTokens: 0 }),
      userBatch('x', { seed: -3 }),
      userBatch('x', { stop: Array.from({ length: 65 }, (_, i) => `s${i}`) }),
      userBatch('x', { presencePenalty: 2.5 }),
      userBatch('x', { frequencyPenalty: -3 }),
      userBatch('x', { repetitionPenalty: 0 }),
      { ...userBatch('x'), messages: [{ role: 'user' as const, content: [{ type: 'image_url' as const, url: 'https://example.com/a.png' }] }] },
      { ...userBatch('x'), continuationTokenIds: [1, 2] },
      { ...userBatch('x'), messages: [] },
      // This model's template renders no tools; response formats are checked before any work.
      { ...userBatch('x'), tools: [{ name: 'f', description: 'd', parameters: {} }] },
      { ...userBatch('x'), responseFormat: { type: 'json_schema' as const, name: 's', schema: { type: 'string', pattern: '^a' } } },
    ];
    for (const b of bad) expect((await errorOf(runner.execute(b))).kind).toBe('bad_request');
    expect((await runner._engine!.stats()).promptTokens).toBe(before);
  });
});

describe('context window', () => {
  test('prompt + maxTokens over maxSeqLen is context_length_exceeded before any work', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxSeqLen: 48 });
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    try {
      expect(runner.modelInfo!.maxSeqLen).toBe(48);
      const before = (await runner._engine!.stats()).promptTokens;
      const long = 'word '.repeat(60);
      const err = await errorOf(runner.execute(userBatch(long)));
      expect(err.kind).toBe('context_length_exceeded');
      expect(err.details).toMatchObject({ maxContextTokens: 48 });
      const err2 = await errorOf(runner.execute(userBatch('short', { maxTokens: 40 })));
      expect(err2.kind).toBe('context_length_exceeded');
      expect((await runner._engine!.stats()).promptTokens).toBe(before);
      // Without maxTokens the request fills the rest of the window and ends with 'length'.
      const t = await (await runner.execute(userBatch('short'))).collect();
      expect(t.finishReason).toBe('length');
      expect(t.usage!.inputTokens! + t.usage!.outputTokens!).toBe(48);
    } finally {
      await runner.close();
    }
  });
});

describe('stop tokens', () => {
  test("the model's EOS ends the stream with 'stop' and never shows up in the text", async () => {
    // Make the model's first greedy token an EOS id (via generation_config.json).
    const probe = await loadedRunner('llama-gqa');
    const tok = probe._tokenizer!;
    const promptIds = tok.encode('<|begin_of_text|><|im_start|>user\neos<|im_end|>\n<|im_start|>assistant\n', false);
    const [first, second] = referenceGreedy(modelDir('llama-gqa'), promptIds, 2) as [number, number];
    await probe.close();
    const dir = editedCopy('llama-gqa', (d) => editJson(join(d, 'generation_config.json'), (g) => (g.eos_token_id = [second])));
    temps.push(dir);
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: dir });
    try {
      const t = await (await runner.execute(userBatch('eos', { maxTokens: 30 }))).collect();
      expect(t.finishReason).toBe('stop');
      expect(t.rawFinishReason).toBe('stop');
      expect(t.usage).toEqual({ inputTokens: promptIds.length, outputTokens: 2, cachedTokens: 0 });
      expect(t.text).toBe(tok.decode([first]));
    } finally {
      await runner.close();
    }
  });
});

describe('event loop', () => {
  test('setInterval ticks keep arriving while a long generation streams', async () => {
    // A long context so that the generation lasts well beyond a few timer periods.
    const dir = editedCopy('llama-gqa', (d) => {
      editJson(join(d, 'config.json'), (c) => {
        c.max_position_embeddings = 4096;
        c.eos_token_id = null;
      });
      editJson(join(d, 'generation_config.json'), (g) => (g.eos_token_id = null));
      editJson(join(d, 'tokenizer_config.json'), (t) => (t.eos_token = null));
    });
    temps.push(dir);
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, maxSeqLen: 2048 });
    await runner.loadWeights({ kind: 'local_path', path: dir });
    try {
      const timeline: string[] = [];
      const timer = setInterval(() => timeline.push('tick'), 1);
      try {
        // Greedy, so the run is the same every time; it must not end early on an EOS token.
        for await (const c of await runner.execute(userBatch('go', { maxTokens: 1500, temperature: 0 }))) {
          timeline.push(c.finishReason !== undefined ? 'end' : 'chunk');
          if (c.finishReason !== undefined) expect(c.finishReason).toBe('length');
        }
      } finally {
        clearInterval(timer);
      }
      const first = timeline.indexOf('chunk');
      const end = timeline.indexOf('end');
      expect(first).toBeGreaterThanOrEqual(0);
      const during = timeline.slice(first, end);
      // A blocking call would deliver every chunk in one burst with no tick in between.
      expect(during.filter((e) => e === 'tick').length).toBeGreaterThanOrEqual(5);
      let bursts = 0;
      for (let i = 1; i < during.length; i++) if (during[i] === 'chunk' && during[i - 1] === 'tick') bursts++;
      expect(bursts).toBeGreaterThanOrEqual(3);
    } finally {
      await runner.close();
    }
  });
});

describe('poisoning and rebuildSession', () => {
  test('a sticky backend failure fails in-flight and new requests with cuda_context_poisoned until rebuildSession', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('qwen2-bias') });
    try {
      const baseline = (await (await runner.execute(userBatch('before', { maxTokens: 24 }))).collect()).text;
      // Armed before the submit: the fault then hits the request's first step. Armed after it, it
      // raced the request, which this tiny model can finish first on a loaded machine (seen in CI).
      runner._engine!.injectFault('sticky_failure');
      const inflight = await runner.execute(userBatch('long', { maxTokens: 200 }));
      const err = await errorOf(inflight.collect());
      expect(err.kind).toBe('cuda_context_poisoned');
      expect(err.countsAsCircuitFailure).toBe(true);
      expect((await errorOf(runner.execute(userBatch('before', { maxTokens: 24 })))).kind).toBe('cuda_context_poisoned');
      expect((await runner._engine!.stats()).poisoned).toBe(true);

      await runner.rebuildSession('cuda_context_poisoned');
      expect((await runner._engine!.stats()).poisoned).toBe(false);
      const after = (await (await runner.execute(userBatch('before', { maxTokens: 24 }))).collect()).text;
      expect(after).toBe(baseline);
    } finally {
      await runner.close();
    }
  });
});

describe('malformed weights', () => {
  const load = async (dir: string) => {
    temps.push(dir);
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    try {
      return await errorOf(runner.loadWeights({ kind: 'local_path', path: dir }));
    } finally {
      await runner.close();
    }
  };

  test('a truncated safetensors file is a clear error naming the tensor', async () => {
    const err = await load(
      editedCopy('llama-gqa', (d) => {
        const f = join(d, 'model.safetensors');
        truncateSync(f, statSync(f).size - 100);
      }),
    );
    expect(err.kind).toBe('bad_request');
    expect(err.message).toMatch(/lm_head\.weight|model\.[\w.]+\.weight/);
  });

  test('a tensor whose shape disagrees with config.json is named', async () => {
    const { mutateSafetensorsHeader } = await import('./helpers/runner.js');
    const err = await load(
      editedCopy('llama-gqa', (d) =>
        mutateSafetensorsHeader(join(d, 'model.safetensors'), (h) => {
          h['model.layers.1.self_attn.k_proj.weight']!.shape = [64, 32];
        }),
      ),
    );
    expect(err.kind).toBe('bad_request');
    expect(err.message).toContain('model.layers.1.self_attn.k_proj.weight');
  });

  test('a missing tensor is named', async () => {
    const { mutateSafetensorsHeader } = await import('./helpers/runner.js');
    const err = await load(
      editedCopy('llama-gqa', (d) =>
        mutateSafetensorsHeader(join(d, 'model.safetensors'), (h) => {
          h['model.layers.1.mlp.up_prox.weight'] = h['model.layers.1.mlp.up_proj.weight']!;
          delete h['model.layers.1.mlp.up_proj.weight'];
        }),
      ),
    );
    expect(err.message).toContain('model.layers.1.mlp.up_proj.weight');
  });

  test('an unsupported dtype is named', async () => {
    const { mutateSafetensorsHeader } = await import('./helpers/runner.js');
    const err = await load(
      editedCopy('llama-gqa', (d) =>
        mutateSafetensorsHeader(join(d, 'model.safetensors'), (h) => {
          h['model.norm.weight']!.dtype = 'I32';
        }),
      ),
    );
    expect(err.kind).toBe('bad_request');
    expect(err.message).toContain('model.norm.weight');
  });
});

/** Sets element `index` of tensor `name` (F32) in a safetensors file to `value`. */
function setF32(file: string, name: string, index: number, value: number): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const t = header[name]!;
  expect(t.dtype).toBe('F32');
  buf.writeFloatLE(value, 8 + n + t.data_offsets[0] + 4 * index);
  writeFileSync(file, buf);
}

describe('issue #11 item 15: NaN weights are an error, not empty output', () => {
  test('a NaN in a weight every token passes through fails loadWeights with bad_request', async () => {
    for (const [tensor, value] of [['model.norm.weight', Number.NaN], ['model.layers.0.mlp.down_proj.weight', Number.POSITIVE_INFINITY]] as const) {
      const dir = editedCopy('llama-gqa', (d) => setF32(join(d, 'model.safetensors'), tensor, 5, value));
      temps.push(dir);
      for (const engineProcess of ['in-process', 'child'] as const) {
        const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS, engineProcess });
        try {
          const err = await errorOf(runner.loadWeights({ kind: 'local_path', path: dir }));
          expect(err.kind).toBe('bad_request');
          expect(err.message).toMatch(/non-finite logits/);
          expect(err.message).not.toContain(dir);
          expect(runner.modelInfo).toBeUndefined();
        } finally {
          await runner.close();
        }
      }
    }
  });

  test('a NaN in one embedding row fails the request that uses that token with internal; others are served', async () => {
    const probe = await loadedRunner('llama-gqa');
    const q = probe._tokenizer!.encode('Q', false);
    const hidden = probe.modelInfo!.hiddenSize;
    await probe.close();
    expect(q).toHaveLength(1);
    const dir = editedCopy('llama-gqa', (d) => setF32(join(d, 'model.safetensors'), 'model.embed_tokens.weight', q[0]! * hidden + 3, Number.NaN));
    temps.push(dir);
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: dir });
    try {
      const err = await errorOf((await runner.execute(userBatch('Q', { maxTokens: 8, temperature: 0 }))).collect());
      expect(err.kind).toBe('internal');
      expect(err.message).toMatch(/non-finite logits/);
      const ok = await (await runner.execute(userBatch('hello', { maxTokens: 4 }))).collect();
      expect(ok.usage!.outputTokens).toBeGreaterThan(0);
    } finally {
      await runner.close();
    }
  });
});

describe('device selection', () => {
  test("INFERKIT_DEVICE=cpu overrides device 'cuda'", async () => {
    const saved = process.env.INFERKIT_DEVICE;
    process.env.INFERKIT_DEVICE = 'cpu';
    try {
      const runner = new CudaRunner({ device: 'cuda', threads: TEST_THREADS });
      await runner.loadWeights({ kind: 'local_path', path: modelDir('qwen3-qknorm') });
      expect(runner.transportKind()).toEqual({ kind: 'local', device: 'cpu' });
      await runner.close();
    } finally {
      if (saved === undefined) delete process.env.INFERKIT_DEVICE;
      else process.env.INFERKIT_DEVICE = saved;
    }
  });

  test("'auto' falls back to the CPU when CUDA is unusable; 'cuda' then is a clear bad_request", async () => {
    const verdict = await testBinary(ADDON_PATH);
    const saved = process.env.INFERKIT_DEVICE;
    delete process.env.INFERKIT_DEVICE;
    try {
      const auto = new CudaRunner({ device: 'auto', threads: TEST_THREADS });
      await auto.loadWeights({ kind: 'local_path', path: modelDir('qwen3-qknorm') });
      const used = auto.transportKind();
      await auto.close();
      const cuda = new CudaRunner({ device: 'cuda', threads: TEST_THREADS });
      if (verdict.cudaUsable) {
        // On a GPU machine 'cuda' must load there, and 'auto' must have picked a real device.
        await cuda.loadWeights({ kind: 'local_path', path: modelDir('qwen3-qknorm') });
        expect(cuda.transportKind()).toEqual({ kind: 'local', device: 'cuda' });
        expect(['cuda', 'cpu']).toContain((used as { device: string }).device);
        await cuda.close();
      } else {
        expect(used).toEqual({ kind: 'local', device: 'cpu' });
        const err = await errorOf(cuda.loadWeights({ kind: 'local_path', path: modelDir('qwen3-qknorm') }));
        expect(err.kind).toBe('bad_request');
        expect(err.message).toMatch(/CUDA/);
      }
    } finally {
      if (saved !== undefined) process.env.INFERKIT_DEVICE = saved;
    }
  });

  test('runtime_managed weights are bad_request; execute before loadWeights is bad_request', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    expect((await errorOf(runner.loadWeights({ kind: 'runtime_managed' }))).kind).toBe('bad_request');
    expect((await errorOf(runner.execute(userBatch('x')))).kind).toBe('bad_request');
  });

  test('close cancels in-flight requests and is final: no execute, loadWeights or rebuildSession after it', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    await runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    const handle = await runner.execute(userBatch('x', { maxTokens: 200 }));
    const closing = runner.close();
    const err = await errorOf(handle.collect());
    await closing;
    expect(err.kind).toBe('cancelled');
    expect((await errorOf(runner.execute(userBatch('x')))).kind).toBe('cancelled');
    // Before, a closed runner loaded again and served.
    expect((await errorOf(runner.loadWeights({ kind: 'local_path', path: noEosModelDir('qwen2-bias') }))).kind).toBe('cancelled');
    expect((await errorOf(runner.rebuildSession('manual'))).kind).toBe('cancelled');
    await runner.close();
  });

  test('a loadWeights queued before close() does not outlive it', async () => {
    const runner = new CudaRunner({ device: 'cpu', threads: TEST_THREADS });
    const loading = runner.loadWeights({ kind: 'local_path', path: noEosModelDir('llama-gqa') });
    const closing = runner.close();
    // Whether the load ran first or was refused, the runner ends closed and serves nothing.
    await loading.catch((e: unknown) => expect(InferenceError.isInstance(e) && e.kind).toBe('cancelled'));
    await closing;
    expect(runner.modelInfo).toBeUndefined();
    expect((await errorOf(runner.execute(userBatch('x')))).kind).toBe('cancelled');
  });
});
