import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { REBUILD_COMMAND } from '../src/binding/binary-path.js';
import { loadBinding } from '../src/binding/load-binding.js';
import { testBinary } from '../src/binding/test-binary.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { modelDir } from './helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'inferkit-binding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function errorOf(p: Promise<unknown>): Promise<InferenceError> {
  try {
    await p;
  } catch (e) {
    if (InferenceError.isInstance(e)) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('native binary probe', () => {
  test('a missing binary is a clear error naming the rebuild command', async () => {
    const err = await errorOf(loadBinding(join(dir, 'absent.node')));
    expect(err.kind).toBe('internal');
    expect(err.message).toContain(REBUILD_COMMAND);
    expect(err.message).toContain('absent.node');
  });

  test('a file that is not a shared library is rejected in the child, not in this process', async () => {
    const garbage = join(dir, 'garbage.node');
    writeFileSync(garbage, 'this is not an ELF file');
    const err = await errorOf(loadBinding(garbage));
    expect(err.kind).toBe('internal');
    expect(err.message).toContain(REBUILD_COMMAND);
  });

  test('a binary that crashes on load kills only the probe: runtime_crashed with the signal', async () => {
    // A module whose initialisation segfaults stands in for a broken native build.
    const crasher = join(dir, 'crasher.js');
    writeFileSync(crasher, "process.stderr.write('about to crash\\n'); process.kill(process.pid, 'SIGSEGV');");
    const err = await errorOf(loadBinding(crasher));
    expect(err.kind).toBe('runtime_crashed');
    expect(err.details).toMatchObject({ signal: 'SIGSEGV' });
    expect((err.details as { stderrTail?: string }).stderrTail).toContain('about to crash');
    expect(err.message).toContain(REBUILD_COMMAND);
    // This process is still here to assert it, and the verdict is cached per file.
    expect(await testBinary(crasher)).toBe(await testBinary(crasher));
  });

  test('CudaRunner.loadWeights surfaces the probe failure', async () => {
    const runner = new CudaRunner({ device: 'cpu', binaryPath: join(dir, 'absent.node') });
    const err = await errorOf(runner.loadWeights({ kind: 'local_path', path: modelDir('llama-gqa') }));
    expect(err.message).toContain(REBUILD_COMMAND);
    expect(runner.modelInfo).toBeUndefined();
    await expect(runner.execute({ requestId: 'r', model: 'm', messages: [{ role: 'user', content: 'x' }], sampling: {}, stream: true, estimatedTokens: 1 })).rejects.toMatchObject({
      kind: 'bad_request',
    });
  });
});
