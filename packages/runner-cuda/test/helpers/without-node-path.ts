import Module from 'node:module';

/**
 * `pnpm run` puts its virtual store on NODE_PATH, and this repository's platform packages
 * (without bins/) resolve from there as a last resort; an app's process has no such entry. Clears
 * it for the calling test file's worker, so "not installed" means what it means in an app.
 */
export function withoutNodePath(): void {
  delete process.env.NODE_PATH;
  (Module as unknown as { _initPaths(): void })._initPaths();
}
