import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GatewayConfigError } from './parse-gateway-config.js';

/**
 * The export `name` of `module`, resolved as code in the config's directory would resolve it (so
 * the application's own dependencies are used), or `undefined` when the module has no such
 * export. A module that cannot be found is a `GatewayConfigError` at `at`.
 */
export async function importFromConfigDir(module: string, name: string, baseDir: string, at: string): Promise<unknown> {
  const require = createRequire(join(baseDir, 'noop.js'));
  let resolved: string;
  try {
    resolved = require.resolve(module);
  } catch {
    throw new GatewayConfigError(at, `cannot find module '${module}' from ${baseDir}; install it next to the config`);
  }
  const mod = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  // A CommonJS module imported from ESM keeps its exports on `default`.
  return mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name];
}
