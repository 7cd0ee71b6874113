import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InferenceError, type PolicyStore } from '@inferkit/inference-core';
import type { StoreConfig } from './gateway-config.js';
import { GatewayConfigError } from './parse-gateway-config.js';

/** A `PolicyStore` the gateway must close on shutdown. */
export type ClosablePolicyStore = PolicyStore & { close?(): Promise<void> };

interface PolicyStoreFactory {
  kind: string;
  create(options: unknown): ClosablePolicyStore | Promise<ClosablePolicyStore>;
}

/**
 * Builds the config's `store` through its package's `policyStoreFactory` (resolved from the
 * config's directory, as runners are): bad options become a `GatewayConfigError` naming the
 * field (`config.store.redis.mode`); a store that cannot be reached rejects with a plain `Error`
 * naming the URL without its password (the store's own message).
 */
export async function loadPolicyStore(store: StoreConfig, baseDir: string, extra: Record<string, unknown> = {}): Promise<ClosablePolicyStore> {
  const at = `config.store.${store.kind}`;
  const require = createRequire(join(baseDir, 'noop.js'));
  let resolved: string;
  try {
    resolved = require.resolve(store.module);
  } catch {
    throw new GatewayConfigError(at, `cannot find module '${store.module}' from ${baseDir}; install it next to the config`);
  }
  const mod = (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
  const factory = (mod.policyStoreFactory ?? (mod.default as Record<string, unknown> | undefined)?.policyStoreFactory) as PolicyStoreFactory | undefined;
  if (typeof factory !== 'object' || factory === null || typeof factory.create !== 'function') {
    throw new GatewayConfigError(at, `module '${store.module}' does not export a policyStoreFactory`);
  }
  try {
    return await factory.create({ ...store.options, ...extra });
  } catch (e) {
    if (InferenceError.isInstance(e) && e.kind === 'bad_request') {
      const param = (e.details as { param?: unknown }).param;
      throw new GatewayConfigError(typeof param === 'string' ? `${at}.${param}` : at, e.message);
    }
    // Not a config error: the store is down or refused us (the message names it, without password).
    throw new Error(`${at}: ${e instanceof Error ? e.message : String(e)}`);
  }
}
