import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { localBuildPath, packageRoot } from './binary-path.js';
import { testBinary, type BinaryVerdict } from './test-binary.js';

/**
 * Where a native addon comes from: `prebuilt`, a platform package
 * (`@inferkit/runner-cuda-<platform>-<arch>`, `…-cuda`) installed as an optional dependency;
 * `local_build`, built from source into this package's `native/build/Release`; `option`, the
 * `binaryPath` option of `CudaRunner`.
 */
export type NativeBinarySource = 'prebuilt' | 'local_build' | 'option';

/** The native addon a `CudaRunner` uses, and why (`CudaRunner.binaryInfo`). */
export interface NativeBinaryInfo {
  source: NativeBinarySource;
  /** The platform package's name, `'local build'` or `'binaryPath option'`. */
  name: string;
  /** Absolute path of the `.node` file. */
  path: string;
  /** Compiled with the CUDA backend. */
  builtWithCuda: boolean;
  /** A CUDA device works with this binary (probed in a child process). */
  cudaUsable: boolean;
  /** Why CUDA is not usable (`''` when it is). */
  cudaReason: string;
  /** The other candidates, each with the reason it was not chosen. */
  passedOver: { name: string; reason: string }[];
}

/** Platforms with published prebuilt packages (`packages/runner-cuda-<platform>-<arch>[-cuda]`). */
export const PREBUILT_PLATFORMS: readonly string[] = ['linux-x64'];

/** The prebuilt packages for a platform, the CUDA one first. */
export function prebuiltPackageNames(platform: string = process.platform, arch: string = process.arch): string[] {
  const base = `@inferkit/runner-cuda-${platform}-${arch}`;
  return [`${base}-cuda`, base];
}

/** What `native/build-addon.mjs` writes next to a build from source (`inferkit-build.json`). */
interface LocalBuildInfo {
  /** Built because `INFERKIT_BUILD_FROM_SOURCE=1` asked for it, not as a fallback. */
  requested?: boolean;
}

/** One place an addon may come from, before probing. @internal */
export interface BinaryCandidate {
  source: 'prebuilt' | 'local_build';
  name: string;
  /** Preference among equally capable binaries: lower first. */
  rank: number;
  /** The binary, or null with `missing` saying why there is none. */
  path: string | null;
  missing?: string;
  /** A local build made with `INFERKIT_BUILD_FROM_SOURCE=1`. */
  requested: boolean;
}

/** The outcome of `chooseBinary`: the chosen binary, or none with every candidate's reason. */
export interface BinaryChoice {
  info?: NativeBinaryInfo;
  verdict?: BinaryVerdict;
  /** Every candidate not chosen (all of them when none is usable). */
  passedOver: { name: string; reason: string; verdict?: BinaryVerdict }[];
}

export interface ChooseBinaryOptions {
  /** The runner-cuda package root (default: this package). */
  root?: string;
  /** Consider a local build (default true; the install script asks for prebuilt packages only). */
  localBuild?: boolean;
  platform?: string;
  arch?: string;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function prebuiltCandidate(root: string, name: string, rank: number, version: string | undefined): BinaryCandidate {
  const base = { source: 'prebuilt' as const, name, rank, requested: false };
  let manifest: string;
  try {
    manifest = createRequire(join(root, 'package.json')).resolve(`${name}/package.json`);
  } catch {
    return { ...base, path: null, missing: 'not installed' };
  }
  const theirs = readJson<{ version?: string }>(manifest)?.version;
  if (theirs !== version) {
    return { ...base, path: null, missing: `version ${String(theirs)} does not match @inferkit/runner-cuda ${String(version)}` };
  }
  const path = join(dirname(manifest), 'bins', 'inferkit.node');
  if (!existsSync(path)) return { ...base, path: null, missing: 'installed without bins/inferkit.node' };
  return { ...base, path };
}

function localCandidate(root: string): BinaryCandidate {
  const path = localBuildPath(root);
  const base = { source: 'local_build' as const, name: 'local build', rank: 2 };
  if (!existsSync(path)) return { ...base, path: null, missing: `not built (${path})`, requested: false };
  const info = readJson<LocalBuildInfo>(join(dirname(path), 'inferkit-build.json'));
  return { ...base, path, requested: info?.requested === true };
}

/**
 * Picks the native addon: each candidate is first loaded in a child process (`testBinary`), then
 * `pickBinary` ranks the usable ones.
 */
export async function chooseBinary(options: ChooseBinaryOptions = {}): Promise<BinaryChoice> {
  const root = options.root ?? packageRoot();
  const platform = `${options.platform ?? process.platform}-${options.arch ?? process.arch}`;
  const version = readJson<{ version?: string }>(join(root, 'package.json'))?.version;
  const candidates: BinaryCandidate[] = [];
  if (PREBUILT_PLATFORMS.includes(platform)) {
    const [cuda, cpu] = prebuiltPackageNames(options.platform, options.arch);
    candidates.push(prebuiltCandidate(root, cpu!, 0, version), prebuiltCandidate(root, cuda!, 1, version));
  } else {
    candidates.push({ source: 'prebuilt', name: 'prebuilt packages', rank: 0, path: null, missing: `none published for ${platform}`, requested: false });
  }
  if (options.localBuild !== false) candidates.push(localCandidate(root));
  const verdicts = await Promise.all(candidates.map((c) => (c.path === null ? undefined : testBinary(c.path))));
  return pickBinary(candidates, verdicts);
}

/**
 * Ranks probed candidates. A binary that can use a CUDA device beats one that cannot; among
 * equals a prebuilt package beats a local build (which exists only where no prebuilt worked at
 * install time, or on request), and the CPU-only package beats the CUDA one (smaller, no CUDA
 * runtime to start). A local build made with `INFERKIT_BUILD_FROM_SOURCE=1` beats everything: it
 * was asked for.
 * @internal
 */
export function pickBinary(candidates: readonly BinaryCandidate[], verdicts: readonly (BinaryVerdict | undefined)[]): BinaryChoice {
  const usable = candidates
    .map((c, i) => ({ c, v: verdicts[i] }))
    .filter((x): x is { c: BinaryCandidate; v: BinaryVerdict } => x.v?.usable === true)
    .sort((a, b) => Number(b.c.requested) - Number(a.c.requested) || Number(b.v.cudaUsable) - Number(a.v.cudaUsable) || a.c.rank - b.c.rank);
  const chosen = usable[0];
  const passedOver: BinaryChoice['passedOver'] = [];
  candidates.forEach((c, i) => {
    if (c === chosen?.c) return;
    const v = verdicts[i];
    const reason = c.missing ?? (v?.usable ? `works, but ${chosen!.c.name} ranks first` : (v?.failure?.message ?? 'unusable'));
    passedOver.push({ name: c.name, reason, verdict: v });
  });
  if (chosen === undefined) return { passedOver };
  const info: NativeBinaryInfo = {
    source: chosen.c.source,
    name: chosen.c.name,
    path: chosen.c.path!,
    builtWithCuda: chosen.v.builtWithCuda,
    cudaUsable: chosen.v.cudaUsable,
    cudaReason: chosen.v.cudaReason,
    passedOver: passedOver.map(({ name, reason }) => ({ name, reason })),
  };
  return { info, verdict: chosen.v, passedOver };
}
