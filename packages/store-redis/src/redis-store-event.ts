/** Which shared policy an event is about. */
export type StorePolicy = 'rate_limits' | 'budget' | 'circuit_breaker';

/**
 * What a `RedisPolicyStore` reports through `onEvent` (told apart by `type`). Messages never
 * hold the password.
 */
export type RedisStoreEvent =
  | { type: 'connected'; store: string }
  | { type: 'disconnected'; store: string; message: string }
  | {
      /** A policy could not reach the store; `action` says what it did about it (`onStoreError`). */
      type: 'store_error';
      store: string;
      policy: StorePolicy;
      key: string;
      action: 'fail_open' | 'fail_closed';
      message: string;
    }
  | {
      /** The first success of a policy after `store_error`s. */
      type: 'store_recovered';
      store: string;
      policy: StorePolicy;
      key: string;
    };
