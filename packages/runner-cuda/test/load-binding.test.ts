import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { InferenceError } from '@inferkit/inference-core';
import { loadBinding } from '../src/binding/load-binding.js';
import { testBinary } from '../src/binding/test-binary.js';
import { CudaRunner } from '../src/cuda-runner.js';
import { modelDir } from './helpers/paths.js';
import { withoutNodePath } from './helpers/without-node-path.js';

withoutNodePath();

const dir = mkdtempSync(join(tmpdir(), 'inferkit-binding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// These tests run from the repository, where the build command is the workspace one.
const SOURCE_BUILD = 'pnpm --filter @inferkit/runner-cuda run build:native';

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
    expect(err.message).toContain(SOURCE_BUILD);
    expect(err.message).toContain('absent.node');
  });

  test('a file that is not a shared library is rejected in the child, not in this process', async () => {
    const garbage = join(dir, 'garbage.node');
    writeFileSync(garbage, 'this is not an ELF file');
    const err = await errorOf(loadBinding(garbage));
    expect(err.kind).toBe('internal');
    expect(err.message).toContain(SOURCE_BUILD);
  });

  test('a binary that crashes on load kills only the probe: runtime_crashed with the signal', async () => {
    // A module whose initialisation segfaults stands in for a broken native build.
    const crasher = join(dir, 'crasher.js');
    writeFileSync(crasher, "process.stderr.write('about to crash\\n'); process.kill(process.pid, 'SIGSEGV');");
    const err = await errorOf(loadBinding(crasher));
    expect(err.kind).toBe('runtime_crashed');
    expect(err.details).toMatchObject({ signal: 'SIGSEGV' });
    expect((err.details as { stderrTail?: string }).stderrTail).toContain('about to crash');
    expect(err.message).toContain(SOURCE_BUILD);
    // This process is still here to assert it, and the verdict is cached per file.
    expect(await testBinary(crasher)).toBe(await testBinary(crasher));
  });

  test('CudaRunner.loadWeights surfaces the probe failure', async () => {
    const runner = new CudaRunner({ device: 'cpu', binaryPath: join(dir, 'absent.node') });
    const err = await errorOf(runner.loadWeights({ kind: 'local_path', path: modelDir('llama-gqa') }));
    expect(err.message).toContain(SOURCE_BUILD);
    expect(runner.modelInfo).toBeUndefined();
    expect(runner.binaryInfo).toBeUndefined();
    await expect(runner.execute({ requestId: 'r', model: 'm', messages: [{ role: 'user', content: 'x' }], sampling: {}, stream: true, estimatedTokens: 1 })).rejects.toMatchObject({
      kind: 'bad_request',
    });
  });

  test('no candidate at all: every reason, the optional packages, the toolchain and the npm command', async () => {
    // An npm-installed copy of the package with neither a prebuilt package nor a local build.
    const modules = join(dir, 'app', 'node_modules');
    const root = join(modules, '@inferkit', 'runner-cuda');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name: '@inferkit/runner-cuda', version: '0.1.0' }));
    writeFileSync(join(modules, '.package-lock.json'), '{}');
    const err = await errorOf(loadBinding(undefined, root));
    expect(err.kind).toBe('internal');
    expect(err.message).toContain('local build: not built');
    expect(err.message).toContain('CMake >= 3.18');
    expect(err.message).toContain('npm rebuild @inferkit/runner-cuda');
    expect(err.message).not.toContain('--filter');
    if (process.platform === 'linux' && process.arch === 'x64') {
      expect(err.message).toContain('@inferkit/runner-cuda-linux-x64: not installed');
      expect(err.message).toContain('--omit=optional');
    }
  });
});
