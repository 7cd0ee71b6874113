import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import { PACKAGE_NAME } from './binary-path.js';

/** Who installed the package, told from the directory layout it sits in. */
export type PackageLayout = 'source' | 'npm' | 'pnpm' | 'yarn' | 'yarn-classic' | 'unknown';

/** The package manager whose layout holds `root` (a package root); `source` for a repository checkout. */
export function packageLayout(root: string): PackageLayout {
  const parts = root.split(sep);
  if (parts.includes('.pnpm')) return 'pnpm';
  if (root.includes(`${sep}.yarn${sep}unplugged${sep}`)) return 'yarn';
  const nm = parts.lastIndexOf('node_modules');
  if (nm < 0) return 'source';
  const modules = parts.slice(0, nm + 1).join(sep);
  if (existsSync(join(modules, '.package-lock.json'))) return 'npm';
  if (existsSync(join(modules, '.modules.yaml'))) return 'pnpm';
  if (existsSync(join(modules, '.yarn-state.yml'))) return 'yarn';
  if (existsSync(join(modules, '.yarn-integrity'))) return 'yarn-classic';
  return 'unknown';
}

const NPM =
  `npm rebuild ${PACKAGE_NAME} (an npm that blocks dependency install scripts needs ` +
  `\`npm install-scripts approve ${PACKAGE_NAME}\` first)`;
const PNPM =
  `pnpm rebuild ${PACKAGE_NAME} (pnpm 10 runs a dependency's build script only once approved: ` +
  `\`pnpm approve-builds\`, or list ${PACKAGE_NAME} under onlyBuiltDependencies)`;
const YARN = `yarn rebuild ${PACKAGE_NAME}`;

/** The command that builds the addon from source where `root` is installed, for error messages. */
export function rebuildCommand(root: string): string {
  switch (packageLayout(root)) {
    case 'source':
      return `pnpm --filter ${PACKAGE_NAME} run build:native`;
    case 'npm':
    case 'yarn-classic':
      return NPM;
    case 'pnpm':
      return PNPM;
    case 'yarn':
      return YARN;
    case 'unknown':
      return `npm: ${NPM}; pnpm: ${PNPM}; yarn: ${YARN}`;
  }
}

/** What a build from source needs, in the words of the install script. */
export const TOOLCHAIN = 'CMake >= 3.18, a C++17 compiler (g++ or clang++) and make or ninja; nvcc and an NVIDIA GPU add the CUDA backend';
