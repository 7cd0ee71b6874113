import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Directory holding the `inferkit_bridge` Python package, shipped in this npm package under
 * `python/`. Source (`src/`) and build output (`dist/`) both sit one level below the package root.
 */
export function bridgePythonPath(): string {
  const here = typeof __dirname === 'string' ? __dirname : path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', 'python');
}
