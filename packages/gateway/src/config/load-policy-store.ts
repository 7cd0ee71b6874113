import { InferenceError, type PolicyStore } from '@inferkit/inference-core';
import type { StoreConfig } from './gateway-config.js';
import { importFromConfigDir } from './import-from-config-dir.js';
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
  const factory = (await importFromConfigDir(store.module, 'policyStoreFactory', baseDir, at)) as PolicyStoreFactory | undefined;
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
