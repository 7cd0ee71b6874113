import type { Clock } from '@inferkit/inference-core';
import type { StoreErrorAction } from './store-context.js';
import type { RedisStoreEvent } from './redis-store-event.js';

/** How shared rate limits are enforced (`RedisStoreOptions.mode`). */
export type RedisStoreMode = 'strict' | 'approximate';

/** Options of `createRedisStore` (and of a gateway config's `store.redis`). */
export interface RedisStoreOptions {
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). `${NAME}` anywhere in it is
   * replaced by the environment variable `NAME`, so a password need not sit in a config file:
   * `redis://:${REDIS_PASSWORD}@10.0.0.5:6379`. Logs and errors show the URL with `***` for it.
   */
  url: string;
  /** Prefix of every key and channel (default `inferkit:`); gateways that share limits use the same. */
  prefix?: string;
  /**
   * `strict` (default): every permit is one atomic script call, the limit holds exactly.
   * `approximate`: local buckets synced every `syncMs`, no store call on the request path for
   * RPM/TPM; overshoot up to about rate × syncMs × processes.
   */
  mode?: RedisStoreMode;
  /** Approximate mode's sync period (ms, default 50). */
  syncMs?: number;
  /**
   * Lifetime of a concurrency slot, a half-open probe or a budget reservation held by a process
   * that stopped renewing it (it died): ms, default 10,000, renewed every third of it.
   */
  leaseMs?: number;
  /**
   * What a policy does when the store cannot be reached: one action for all, or per policy.
   * Defaults: `rateLimits` and `circuitBreaker` `fail_open` (degrade to per-process limits / a
   * closed breaker), `budget` `fail_closed` (no unaccounted spend).
   */
  onStoreError?: StoreErrorAction | { rateLimits?: StoreErrorAction; budget?: StoreErrorAction; circuitBreaker?: StoreErrorAction };
  /** Longest wait for the first connection (ms, default 2,000). */
  connectTimeoutMs?: number;
  /**
   * Longest wait for one script call (ms, default 2,000). Past it a budget or breaker call counts
   * as a store error; a rate gate keeps the request waiting (bounded by its `maxWaitMs`) and asks
   * again, since a slow reply is not a dead store.
   */
  commandTimeoutMs?: number;
  /**
   * Time source of every window, bucket and lease. Default: the Redis server's `TIME`, one clock
   * for all processes whatever their machines' clocks. Tests pass a clock shared by their
   * simulated processes.
   */
  clock?: Clock;
  /** Connection changes and store errors (messages without the password). */
  onEvent?: (event: RedisStoreEvent) => void;
}
