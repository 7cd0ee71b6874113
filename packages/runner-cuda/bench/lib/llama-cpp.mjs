// llama.cpp through node-llama-cpp, the peer every CPU bench compares against.

/**
 * Loads `modelPath` on the CPU with llama.cpp's own logging quiet; `dispose` frees the model and
 * the backend. Never builds llama.cpp: the prebuilt binary is the one compared.
 */
export async function loadLlamaCpp(modelPath) {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath });
  return {
    llama,
    model,
    async dispose() {
      await model.dispose();
      await llama.dispose();
    },
  };
}

/**
 * Generates exactly `n` tokens on `seq`, calling `onToken` for each. By default node-llama-cpp's
 * evaluate() stops at end-of-generation tokens, which random weights emit now and then;
 * yieldEogToken keeps it going so every run does the same amount of work.
 */
export async function llamaGenerate(seq, prompt, n, onToken) {
  let count = 0;
  for await (const _ of seq.evaluate(prompt, { temperature: 0, yieldEogToken: true })) {
    count++;
    onToken?.(count);
    if (count === n) break;
  }
  if (count !== n) throw new Error(`llama.cpp stopped after ${count} of ${n} tokens`);
  return count;
}
