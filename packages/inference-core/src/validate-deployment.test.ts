import { describe, expect, it } from 'vitest';
import { inferRuntime } from './infer-runtime.js';
import { InferenceError } from './inference-error.js';
import { validateDeployment } from './validate-deployment.js';

function problem(input: unknown): InferenceError {
  try {
    validateDeployment(input);
  } catch (e) {
    expect(InferenceError.isInstance(e)).toBe(true);
    return e as InferenceError;
  }
  throw new Error('expected validation to fail');
}

describe('validateDeployment', () => {
  it('accepts a full deployment and fills in the runtime', () => {
    const d = validateDeployment({
      name: 'chat',
      model: 'gpt-4.1-mini',
      rateLimits: { requestsPerMinute: 500, tokensPerMinute: 200_000, maxConcurrent: 16 },
      retry: { maxRetries: 3, initialDelayMs: 200, maxDelayMs: 5000, jitter: 'equal' },
      timeouts: { connectMs: 5000, firstChunkMs: 30_000 },
      circuitBreaker: { failureThreshold: 5, windowMs: 60_000, openDurationMs: 10_000, halfOpenMaxProbes: 1 },
      budget: { hourlyUsd: 5, dailyUsd: 50, onExceeded: 'throttle' },
      serving: { maxConcurrent: 8, onCapacityExhausted: 'queue', maxQueueLength: 100, abandonedHandleMs: 30_000 },
    });
    expect(d.runtime).toBe('openai');
    expect(validateDeployment({ name: 'local', model: 'x', runtime: 'python:transformers' }).runtime).toBe('python:transformers');
  });

  it('lists every problem, with the first path in details.param', () => {
    const e = problem({
      name: '',
      model: 'mystery-model',
      retry: { maxRetries: -1, initialDelayMs: 100, maxDelayMs: 50, jitter: 'sometimes' },
      circuitBreaker: { failureThreshold: 0 },
      budget: { onExceeded: 'throttle' },
      weights: { kind: 'ftp' },
      serving: { abandonedHandleMs: 0 },
    });
    expect(e.kind).toBe('bad_request');
    expect(e.details).toEqual({ param: 'name' });
    for (const p of [
      'runtime not given and cannot be inferred',
      'weights.kind',
      'retry.maxRetries',
      'retry.maxDelayMs must be >= initialDelayMs',
      'retry.jitter',
      'circuitBreaker.failureThreshold',
      'circuitBreaker.windowMs is required',
      'budget needs hourlyUsd or dailyUsd',
      "'throttle' needs serving.maxConcurrent",
      'serving.abandonedHandleMs must be a number > 0',
    ]) {
      expect(e.message).toContain(p);
    }
  });

  it('checks the file picked out of a weight source', () => {
    const base = { name: 'a', model: 'b', runtime: 'cuda' };
    expect(validateDeployment({ ...base, weights: { kind: 'hugging_face', repo: 'o/r', file: 'm-Q4_K_M.gguf' } }).weights).toMatchObject({ file: 'm-Q4_K_M.gguf' });
    expect(problem({ ...base, weights: { kind: 'hugging_face', repo: 'o/r', file: '' } }).message).toContain('weights.file');
    expect(problem({ ...base, weights: { kind: 'local_path', path: '/m', file: 7 } }).message).toContain('weights.file');
  });

  it('rejects non-objects and unknown runtimes', () => {
    expect(problem(null).kind).toBe('bad_request');
    expect(problem([]).kind).toBe('bad_request');
    expect(problem({ name: 'a', model: 'b', runtime: 'tpu' }).message).toContain('unknown runtime "tpu"');
  });
});

describe('inferRuntime', () => {
  it.each([
    ['gpt-5', 'openai'],
    ['gpt-5-mini-2025-08-07', 'openai'],
    ['gpt-4.1-nano', 'openai'],
    ['gpt-4o-mini', 'openai'],
    ['o1-preview', 'openai'],
    ['o3-mini', 'openai'],
    ['o4-mini', 'openai'],
    ['claude-sonnet-4-5', 'anthropic'],
    ['claude-3-5-haiku-latest', 'anthropic'],
    ['gemini-2.5-pro', 'gemini'],
    ['gemini-2.0-flash', 'gemini'],
    ['meta-llama/Llama-3.2-1B-Instruct', 'cuda'],
    ['TinyLlama/TinyLlama-1.1B-Chat-v1.0', 'cuda'],
    ['HuggingFaceTB/SmolLM2-135M-Instruct', 'cuda'],
    ['Qwen/Qwen2.5-0.5B-Instruct', 'cuda'],
    ['mistralai/Mixtral-8x7B-Instruct-v0.1', 'vllm'],
    ['microsoft/Phi-3-mini-4k-instruct', 'vllm'],
    ['google/gemma-2-2b-it', 'vllm'],
    ['deepseek-ai/DeepSeek-R1-Distill-Qwen-7B', 'vllm'],
    ['anthropic/claude-opus-4', 'anthropic'],
    ['litellm/anything', 'litellm'],
  ])('%s → %s', (model, runtime) => {
    expect(inferRuntime(model)).toBe(runtime);
  });

  it('returns undefined when unsure', () => {
    expect(inferRuntime('my-finetune')).toBeUndefined();
    expect(inferRuntime('')).toBeUndefined();
  });
});
