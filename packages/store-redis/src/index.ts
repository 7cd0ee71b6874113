export { createRedisStore, RedisPolicyStore } from './redis-policy-store.js';
export type { RedisStoreMode, RedisStoreOptions } from './redis-store-options.js';
export type { RedisStoreEvent, StorePolicy } from './redis-store-event.js';
export type { StoreErrorAction } from './store-context.js';
export { resolveRedisUrl } from './redis-url.js';
export type { ResolvedRedisUrl } from './redis-url.js';

/**
 * The entry a gateway config's `"store": { "redis": { … } }` loads: `create(options)` validates
 * the options and connects (see `createRedisStore`).
 */
export const policyStoreFactory = {
  kind: 'redis',
  create: (options: unknown) => createRedisStoreFromUnknown(options),
} as const;

import { createRedisStore } from './redis-policy-store.js';
import type { RedisStoreOptions } from './redis-store-options.js';
function createRedisStoreFromUnknown(options: unknown) {
  return createRedisStore(options as RedisStoreOptions);
}
