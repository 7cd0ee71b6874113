import { createRequire } from 'node:module';
import { debuglog } from 'node:util';
import { InferenceError } from '@inferkit/inference-core';
import type { AddonModule } from './addon-types.js';
import { packageRoot } from './binary-path.js';
import { chooseBinary, PREBUILT_PLATFORMS, prebuiltPackageNames, type BinaryChoice, type NativeBinaryInfo } from './choose-binary.js';
import { rebuildCommand, TOOLCHAIN } from './rebuild-advice.js';
import { testBinary, type BinaryVerdict } from './test-binary.js';

/** A binary that passed the child-process probe, loaded in this process. @internal */
export interface LoadedBinding {
  module: AddonModule;
  verdict: BinaryVerdict;
  info: NativeBinaryInfo;
}

// NODE_DEBUG=inferkit prints which addon was chosen and why the others were not.
const debug = debuglog('inferkit');
const loaded = new Map<string, AddonModule>();

function crashed(v: BinaryVerdict | undefined): boolean {
  const f = v?.failure;
  return f !== undefined && (f.signal !== null || (f.exitCode !== null && f.exitCode !== 3 && f.exitCode !== 0));
}

/** The error for "no candidate works": each candidate's reason, then how to get a binary. */
function noBinaryError(choice: BinaryChoice, root: string): InferenceError {
  const platform = `${process.platform}-${process.arch}`;
  const reasons = choice.passedOver.map((p) => `${p.name}: ${p.reason}`).join('; ');
  const prebuilt = PREBUILT_PLATFORMS.includes(platform)
    ? `The prebuilt addon comes in the optional dependencies ${prebuiltPackageNames().join(' and ')}: an install with ` +
      `--omit=optional (--no-optional), or a lockfile written on another platform, leaves them out; reinstall to get them. `
    : '';
  const message =
    `no usable inferkit native addon for ${platform} (${reasons}). ${prebuilt}` +
    `Or build it from source (needs ${TOOLCHAIN}): ${rebuildCommand(root)}`;
  const crash = choice.passedOver.find((p) => crashed(p.verdict));
  if (crash !== undefined) {
    const f = crash.verdict!.failure!;
    return new InferenceError('runtime_crashed', message, {
      details: { exitCode: f.exitCode, signal: f.signal, stderrTail: f.stderrTail },
      provider: 'cuda',
    });
  }
  return new InferenceError('internal', message, { details: { originalName: 'NativeAddonUnavailable' }, provider: 'cuda' });
}

/** The `binaryPath` option: that binary or an error, no choice. */
async function chooseGiven(binaryPath: string, root: string): Promise<{ info: NativeBinaryInfo; verdict: BinaryVerdict }> {
  const verdict = await testBinary(binaryPath);
  if (!verdict.usable) {
    throw noBinaryError({ passedOver: [{ name: `binaryPath option (${binaryPath})`, reason: verdict.failure!.message, verdict }] }, root);
  }
  const info: NativeBinaryInfo = {
    source: 'option',
    name: 'binaryPath option',
    path: binaryPath,
    builtWithCuda: verdict.builtWithCuda,
    cudaUsable: verdict.cudaUsable,
    cudaReason: verdict.cudaReason,
    passedOver: [],
  };
  return { info, verdict };
}

/**
 * Chooses the addon (`binaryPath` when given, else `chooseBinary`), every candidate probed in a
 * child process first, then loads the choice here. No usable binary becomes an `InferenceError`
 * listing each candidate's reason and the rebuild command for the package manager that installed
 * this package; a probe that crashed makes it `runtime_crashed`, with the exit code, signal and
 * stderr tail in the details.
 * @internal
 */
export async function loadBinding(binaryPath?: string, root: string = packageRoot()): Promise<LoadedBinding> {
  let info: NativeBinaryInfo;
  let verdict: BinaryVerdict;
  if (binaryPath !== undefined) {
    ({ info, verdict } = await chooseGiven(binaryPath, root));
  } else {
    const choice = await chooseBinary({ root });
    if (choice.info === undefined) throw noBinaryError(choice, root);
    info = choice.info;
    verdict = choice.verdict!;
  }
  debug(
    'native addon: %s (%s, %s)%s',
    info.name,
    info.path,
    info.cudaUsable ? 'CUDA usable' : `CPU only: ${info.cudaReason}`,
    info.passedOver.length > 0 ? `; passed over: ${info.passedOver.map((p) => `${p.name}: ${p.reason}`).join('; ')}` : '',
  );
  let module = loaded.get(info.path);
  if (module === undefined) {
    try {
      module = createRequire(import.meta.url)(info.path) as AddonModule;
    } catch (e) {
      throw new InferenceError('internal', `loading the inferkit native addon at ${info.path} failed: ${(e as Error).message}. Rebuild it with: ${rebuildCommand(root)}`, {
        cause: e,
        provider: 'cuda',
      });
    }
    loaded.set(info.path, module);
  }
  return { module, verdict, info };
}
