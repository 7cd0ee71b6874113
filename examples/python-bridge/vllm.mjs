#!/usr/bin/env node
// vLLM through PythonRunner: the engine runs in the bridge's Python process (vLLM's AsyncLLM),
// so there is no HTTP hop, and everything vLLM can do at scale is one `engineArgs` away.
// `engineArgs` go to vLLM's AsyncEngineArgs untouched, in their Python names.
//
//   One GPU:            node examples/python-bridge/vllm.mjs --model Qwen/Qwen3-0.6B
//   4 GPUs, one node:   node examples/python-bridge/vllm.mjs --model meta-llama/Llama-3.1-70B-Instruct --tp 4
//   2 nodes × 8 GPUs:   on every node `ray start` (head: `ray start --head --port=6379`, others:
//                       `ray start --address=<head-ip>:6379`), same model path, vLLM version and
//                       environment everywhere; then on the head:
//                       node examples/python-bridge/vllm.mjs --model <70B+ model> --tp 8 --pp 2 --ray
//
// Tensor parallel (--tp) splits every layer across the GPUs of one node (keep it ≤ GPUs per
// node: it needs NVLink-class bandwidth); pipeline parallel (--pp) splits the layers into stages,
// one per node. With world size TP×PP ≤ local GPUs vLLM uses Python multiprocessing; across
// nodes it needs `distributed_executor_backend: 'ray'`. Set NCCL_SOCKET_IFNAME / VLLM_HOST_IP
// when nodes have several network interfaces.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { InferenceError } from '@inferkit/inference-core';
import { PythonRunner } from '@inferkit/runner-python';
import { parseFlags, readPositiveInteger } from '../shared/cli.mjs';

/**
 * The PythonRunner options for vLLM. `tp` = tensor_parallel_size, `pp` = pipeline_parallel_size,
 * `ray` selects the Ray executor (required for more than one node).
 */
export function vllmRunnerOptions({ model, tp = 1, pp = 1, ray = false, maxModelLen = 8192, gpuMemoryUtilization = 0.9 }) {
  return {
    engine: 'vllm',
    model,
    engineArgs: {
      tensor_parallel_size: tp,
      pipeline_parallel_size: pp,
      ...(ray ? { distributed_executor_backend: 'ray' } : {}),
      max_model_len: maxModelLen,
      gpu_memory_utilization: gpuMemoryUtilization,
    },
    python: process.env.PYTHON ?? 'python3',
    // Loading a large model (and starting Ray workers) takes minutes.
    startupTimeoutMs: 30 * 60_000,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const USAGE = `usage: vllm.mjs [--model <id or path>] [--tp <n>] [--pp <n>] [--ray] [--prompt <text>]

  --model   a Hugging Face model id or a local checkpoint (default: Qwen/Qwen3-0.6B)
  --tp      tensor_parallel_size: GPUs each layer is split across, within one node (default 1)
  --pp      pipeline_parallel_size: stages the layers are split into, one per node (default 1)
  --ray     the Ray executor (distributed_executor_backend: 'ray'), needed across nodes
  --prompt  the user message`;
  const values = parseFlags(
    {
      model: { type: 'string', default: 'Qwen/Qwen3-0.6B' },
      tp: { type: 'string', default: '1' },
      pp: { type: 'string', default: '1' },
      ray: { type: 'boolean', default: false },
      prompt: { type: 'string', default: 'Explain tensor parallelism in two sentences.' },
    },
    USAGE,
  );
  const tp = readPositiveInteger(values, 'tp');
  const pp = readPositiveInteger(values, 'pp');
  const runner = new PythonRunner({ ...vllmRunnerOptions({ model: values.model, tp, pp, ray: values.ray }), onLog: (l) => process.stderr.write(`[vllm] ${l.line}\n`) });
  try {
    const handle = await runner.execute({
      requestId: randomUUID(),
      model: values.model,
      messages: [{ role: 'user', content: values.prompt }],
      sampling: { maxTokens: 256, temperature: 0.7 },
      stream: true,
      estimatedTokens: 300,
    });
    for await (const chunk of handle) process.stdout.write(chunk.textDelta);
    process.stdout.write('\n');
  } catch (e) {
    process.stderr.write(InferenceError.isInstance(e) ? `vLLM error (${e.kind}): ${e.message}\n` : `${e}\n`);
    process.exitCode = 1;
  } finally {
    await runner.close();
  }
}
