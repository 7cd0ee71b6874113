import { randomBytes } from 'node:crypto';
import { type Clock, InferenceError } from '@inferkit/inference-core';
import { errorMessage, LuaScript, type RedisConnection } from './redis-connection.js';
import type { StorePolicy, RedisStoreEvent } from './redis-store-event.js';
import { LEASE_RENEW } from './lua-scripts.js';

/** What a shared policy does when the store cannot be reached. */
export type StoreErrorAction = 'fail_open' | 'fail_closed';

const RENEW = new LuaScript(LEASE_RENEW);
// While a policy keeps failing, its store_error event repeats at most this often.
const REPEAT_ERROR_EVENT_MS = 10_000;

/**
 * @internal What every shared policy of one store uses: the connection, key names, the time
 * argument, lease renewal, `onStoreError` and the events about it.
 */
export class StoreContext {
  readonly conn: RedisConnection;
  readonly prefix: string;
  readonly leaseMs: number;
  readonly syncMs: number;
  /** Identifies this process's leases and sync entries. */
  readonly processId: string;
  private readonly clock: Clock | undefined;
  private readonly actions: Record<StorePolicy, StoreErrorAction>;
  private readonly onEvent: (event: RedisStoreEvent) => void;
  private readonly failingSince: Map<string, number>;
  private readonly leases: Map<string, string>; // lease id -> sorted set key
  private renewTimer: ReturnType<typeof setInterval> | null;
  private seq: number;

  constructor(init: {
    conn: RedisConnection;
    prefix: string;
    leaseMs: number;
    syncMs: number;
    clock: Clock | undefined;
    actions: Record<StorePolicy, StoreErrorAction>;
    onEvent: (event: RedisStoreEvent) => void;
  }) {
    this.conn = init.conn;
    this.prefix = init.prefix;
    this.leaseMs = init.leaseMs;
    this.syncMs = init.syncMs;
    this.clock = init.clock;
    this.actions = init.actions;
    this.onEvent = init.onEvent;
    this.processId = randomBytes(6).toString('hex');
    this.failingSince = new Map();
    this.leases = new Map();
    this.renewTimer = null;
    this.seq = 0;
  }

  /** The `now` script argument: '' lets the server's TIME decide (see lua-scripts.ts). */
  now(): string {
    return this.clock === undefined ? '' : String(Math.floor(this.clock.now()));
  }

  /** A key of the policy state `key`; the braces keep one policy's keys in one cluster slot. */
  key(key: string, part: string): string {
    return `${this.prefix}{${key}}:${part}`;
  }

  /** A unique id for a lease, reservation or failure entry. */
  nextId(): string {
    return `${this.processId}:${(this.seq++).toString(36)}`;
  }

  run(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return this.conn.run(script, keys, args);
  }

  action(policy: StorePolicy): StoreErrorAction {
    return this.actions[policy];
  }

  /** Records a failure to reach the store; returns what the policy must do about it. */
  failed(policy: StorePolicy, key: string, error: unknown): StoreErrorAction {
    const action = this.actions[policy];
    const id = `${policy}\u0000${key}`;
    const now = Date.now();
    const since = this.failingSince.get(id);
    if (since === undefined || now - since >= REPEAT_ERROR_EVENT_MS) {
      this.failingSince.set(id, now);
      this.emit({ type: 'store_error', store: this.conn.redacted, policy, key, action, message: this.conn.scrub(errorMessage(error)) });
    }
    return action;
  }

  /** Records a success; the first after failures is reported. */
  succeeded(policy: StorePolicy, key: string): void {
    if (this.failingSince.size === 0) return; // the common case: one map-size check
    const id = `${policy}\u0000${key}`;
    if (this.failingSince.delete(id)) this.emit({ type: 'store_recovered', store: this.conn.redacted, policy, key });
  }

  /** The error a policy that fails closed rejects with. */
  unavailable(policy: StorePolicy, requestId?: string): InferenceError {
    return new InferenceError('backpressure', `the shared policy store (${this.conn.redacted}) is unavailable and ${policy} fail closed`, {
      details: { reason: 'store_unavailable', policy },
      ...(requestId !== undefined ? { requestId } : {}),
    });
  }

  /** Keeps a lease alive (renewed every leaseMs / 3) until `dropLease`. */
  holdLease(id: string, setKey: string): void {
    this.leases.set(id, setKey);
    if (this.renewTimer === null) {
      this.renewTimer = setInterval(() => this.renew(), Math.max(10, Math.floor(this.leaseMs / 3)));
      this.renewTimer.unref();
    }
  }

  dropLease(id: string): void {
    this.leases.delete(id);
    if (this.leases.size === 0 && this.renewTimer !== null) {
      clearInterval(this.renewTimer);
      this.renewTimer = null;
    }
  }

  close(): void {
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    this.renewTimer = null;
    this.leases.clear();
  }

  emit(event: RedisStoreEvent): void {
    try {
      this.onEvent(event);
    } catch {
      // Listeners must not break the store.
    }
  }

  private renew(): void {
    if (this.leases.size === 0) return;
    const keys: string[] = [];
    const args: Array<string | number> = [this.now(), this.leaseMs];
    for (const [id, key] of this.leases) {
      keys.push(key);
      args.push(id);
    }
    // A failed renewal is retried on the next tick; leases outlive two missed ticks.
    this.run(RENEW, keys, args).catch(() => undefined);
  }
}
