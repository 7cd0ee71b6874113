#!/usr/bin/env node
// A custom Python engine behind PythonRunner. Node spawns `python3 -m inferkit_bridge` (the
// bridge ships inside @inferkit/runner-python), which imports `word_engine:create_engine` from
// engines/ and streams its tokens back over a dedicated pipe.
//
//   node examples/python-bridge/custom-engine.mjs "How are you?"
//   PYTHON=/usr/bin/python3 node examples/python-bridge/custom-engine.mjs
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InferenceError } from '@inferkit/inference-core';
import { runnerFactory } from '@inferkit/runner-python';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The runner for engines/word_engine.py; any `module:factory` on `pythonPath` works the same way.
 * Built through `runnerFactory`, as a gateway config would (`new PythonRunner(options)` is the
 * same); options are checked at once, and a misspelt one is a `bad_request` naming it.
 */
export function wordEngineRunner(options = {}) {
  return runnerFactory.create({
    engine: 'word_engine:create_engine',
    pythonPath: [join(here, 'engines')],
    engineArgs: { greeting: 'Hello from Python!' },
    python: process.env.PYTHON ?? 'python3',
    ...options,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runner = wordEngineRunner({ onLog: (l) => process.stderr.write(`[python ${l.stream}] ${l.line}\n`) });
  try {
    const handle = await runner.execute({
      requestId: randomUUID(),
      model: 'word-engine',
      messages: [{ role: 'user', content: process.argv.slice(2).join(' ') || 'What can a custom engine do?' }],
      sampling: { maxTokens: 64 },
      stream: true,
      estimatedTokens: 80,
    });
    let usage;
    for await (const chunk of handle) {
      process.stdout.write(chunk.textDelta);
      usage = chunk.usage ?? usage;
    }
    process.stdout.write('\n');
    process.stderr.write(`runtime: ${runner.runtimeKind()}, tokens: ${usage?.inputTokens ?? 'unknown'} in / ${usage?.outputTokens ?? 'unknown'} out\n`);
  } catch (e) {
    process.stderr.write(InferenceError.isInstance(e) ? `python engine error (${e.kind}): ${e.message}\n` : `${e}\n`);
    process.exitCode = 1;
  } finally {
    await runner.close();
  }
}
