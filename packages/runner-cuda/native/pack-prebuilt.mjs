#!/usr/bin/env node
// Builds a prebuilt platform package from source and packs it:
//
//   node native/pack-prebuilt.mjs --variant cpu|cuda [--cuda-archs "80-real;86-real;89-real;90"] [--out DIR]
//
// cpu  -> @inferkit/runner-cuda-<platform>-<arch>       (INFERKIT_CUDA=OFF)
// cuda -> @inferkit/runner-cuda-<platform>-<arch>-cuda  (INFERKIT_CUDA=ON, --cuda-archs or
//         INFERKIT_CUDA_ARCHS, default the release list below; no experimental kernels)
//
// The binary is built by build-addon.mjs --portable in its own folder (native/prebuilt/build-*)
// and staged with the manifest, README and LICENSE in native/prebuilt/stage-*; it never goes into
// packages/runner-cuda-*/ itself, so a workspace never prefers a stale prebuilt over the local
// build it is editing. Writes DIR/<name>-<version>.tgz (default DIR: native/prebuilt) and prints
// its path. Needs dist/ (pnpm build): the binary is probed before it is packed.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const RELEASE_CUDA_ARCHS = '80-real;86-real;89-real;90';
const nativeDir = dirname(fileURLToPath(import.meta.url));
const pkgRoot = join(nativeDir, '..');
const repoRoot = join(pkgRoot, '..', '..');

function arg(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function fail(message) {
  console.error(`pack-prebuilt: ${message}`);
  process.exit(1);
}

const variant = arg('--variant');
if (variant !== 'cpu' && variant !== 'cuda') fail('--variant cpu|cuda is required');
const out = resolve(arg('--out') ?? join(nativeDir, 'prebuilt'));
const platform = `${process.platform}-${process.arch}`;
const name = `@inferkit/runner-cuda-${platform}${variant === 'cuda' ? '-cuda' : ''}`;
const source = join(pkgRoot, '..', name.slice('@inferkit/'.length));
if (!existsSync(join(source, 'package.json'))) fail(`no package ${name} (packages/${name.slice('@inferkit/'.length)}) for this platform`);

const runner = JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8'));
const manifest = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'));
if (manifest.version !== runner.version) fail(`${name} is ${manifest.version}, @inferkit/runner-cuda is ${runner.version}: the versions move together`);
if (!(name in (runner.optionalDependencies ?? {}))) fail(`@inferkit/runner-cuda does not list ${name} in optionalDependencies`);
if (!existsSync(join(pkgRoot, 'dist', 'test-binary.js'))) fail('dist/ is missing: run pnpm build first');

const buildDir = join(nativeDir, 'prebuilt', `build-${variant}`);
const env = { ...process.env, INFERKIT_CUDA: variant === 'cuda' ? 'ON' : 'OFF' };
delete env.INFERKIT_CUDA_EXPERIMENTAL;
delete env.INFERKIT_NATIVE_ARCH;
if (variant === 'cuda') env.INFERKIT_CUDA_ARCHS = arg('--cuda-archs') ?? process.env.INFERKIT_CUDA_ARCHS ?? RELEASE_CUDA_ARCHS;
else delete env.INFERKIT_CUDA_ARCHS;
const built = spawnSync(process.execPath, [join(nativeDir, 'build-addon.mjs'), '--build-dir', buildDir, '--portable'], { stdio: 'inherit', env });
if (built.status !== 0) fail(`building ${name} failed`);

const binary = join(buildDir, 'Release', 'inferkit.node');
const { testBinary } = await import(pathToFileURL(join(pkgRoot, 'dist', 'test-binary.js')).href);
const verdict = await testBinary(binary);
if (!verdict.usable) fail(`the built binary does not load: ${verdict.failure?.message}`);
if (verdict.builtWithCuda !== (variant === 'cuda')) fail(`the ${variant} binary was built ${verdict.builtWithCuda ? 'with' : 'without'} CUDA`);

const stage = join(nativeDir, 'prebuilt', `stage-${variant}`);
rmSync(stage, { recursive: true, force: true });
mkdirSync(join(stage, 'bins'), { recursive: true });
copyFileSync(join(source, 'package.json'), join(stage, 'package.json'));
copyFileSync(join(source, 'README.md'), join(stage, 'README.md'));
copyFileSync(join(repoRoot, 'LICENSE'), join(stage, 'LICENSE'));
copyFileSync(binary, join(stage, 'bins', 'inferkit.node'));
const info = JSON.parse(readFileSync(join(buildDir, 'Release', 'inferkit-build.json'), 'utf8'));
const glibc = minimumGlibc(binary);
writeFileSync(join(stage, 'bins', 'inferkit-build.json'), JSON.stringify({ ...info, package: name, glibc }, null, 1) + '\n');
if (glibc) console.error(`pack-prebuilt: ${name} needs glibc >= ${glibc} (the build machine's); an older one fails the probe and builds from source`);

mkdirSync(out, { recursive: true });
/** The newest GLIBC_x.y symbol version the binary needs (objdump -T), or null when unknown. */
function minimumGlibc(path) {
  const r = spawnSync('objdump', ['-T', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) return null;
  const versions = [...r.stdout.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  if (versions.length === 0) return null;
  versions.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  return `${versions[0][0]}.${versions[0][1]}`;
}

const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: stage, encoding: 'utf8' }))[0];
console.log(join(out, packed.filename));
