import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = '@inferkit/runner-cuda';

/**
 * The package root, found by walking up from this module: the same code runs from `src/binding/`
 * under vitest and from `dist/` once bundled, so a fixed relative path would be wrong in one of them.
 */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // An unreadable manifest is not ours; keep walking.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot locate the ${PACKAGE_NAME} package root from ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Where `native/build-addon.mjs` (cmake-js) puts a build from source (see `native/README.md`). */
export function localBuildPath(root: string = packageRoot()): string {
  return join(root, 'native', 'build', 'Release', 'inferkit.node');
}
