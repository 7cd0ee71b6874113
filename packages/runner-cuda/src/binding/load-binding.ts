import { createRequire } from 'node:module';
import { InferenceError } from '@inferkit/inference-core';
import type { AddonModule } from './addon-types.js';
import { REBUILD_COMMAND } from './binary-path.js';
import { testBinary, type BinaryVerdict } from './test-binary.js';

/** A binary that passed the child-process probe, loaded in this process. @internal */
export interface LoadedBinding {
  module: AddonModule;
  verdict: BinaryVerdict;
}

const loaded = new Map<string, AddonModule>();

/**
 * Probes `binaryPath` in a child process (cached), then loads it here. A missing or broken
 * binary becomes an `InferenceError` naming the rebuild command; one that crashed the probe is
 * `runtime_crashed`, with the exit code, signal and stderr tail in the details.
 * @internal
 */
export async function loadBinding(binaryPath: string): Promise<LoadedBinding> {
  const verdict = await testBinary(binaryPath);
  if (!verdict.usable) {
    const f = verdict.failure!;
    const crashed = f.signal !== null || (f.exitCode !== null && f.exitCode !== 3 && f.exitCode !== 0);
    const message = `the inferkit native addon at ${binaryPath} is unusable: ${f.message}. Rebuild it with: ${REBUILD_COMMAND}`;
    if (crashed) {
      throw new InferenceError('runtime_crashed', message, {
        details: { exitCode: f.exitCode, signal: f.signal, stderrTail: f.stderrTail },
        provider: 'cuda',
      });
    }
    throw new InferenceError('internal', message, { details: { originalName: 'NativeAddonUnavailable' }, provider: 'cuda' });
  }
  let module = loaded.get(binaryPath);
  if (module === undefined) {
    try {
      module = createRequire(import.meta.url)(binaryPath) as AddonModule;
    } catch (e) {
      throw new InferenceError('internal', `loading the inferkit native addon at ${binaryPath} failed: ${(e as Error).message}. Rebuild it with: ${REBUILD_COMMAND}`, {
        cause: e,
        provider: 'cuda',
      });
    }
    loaded.set(binaryPath, module);
  }
  return { module, verdict };
}
