import { createHash } from 'node:crypto';
import { createClient, TimeoutError } from 'redis';
import type { ResolvedRedisUrl } from './redis-url.js';
import type { RedisStoreEvent } from './redis-store-event.js';

/** A Lua script and its SHA1, run with EVALSHA (EVAL once per server that lacks it). */
export class LuaScript {
  readonly source: string;
  readonly sha: string;
  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/** The part of node-redis's client used here (its generic types add nothing to this file). */
interface Client {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  on(event: 'ready' | 'error', listener: (arg?: unknown) => void): unknown;
  connect(): Promise<unknown>;
  sendCommand(args: readonly string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  close(): Promise<void>;
  destroy(): void;
}

/** Settings of a `RedisConnection`. */
export interface RedisConnectionOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  onEvent: (event: RedisStoreEvent) => void;
}

/**
 * One command connection (and, once something subscribes, one subscriber connection) to Redis.
 * Commands fail at once while disconnected (no offline queue: a request must not hang on a dead
 * store) and after `commandTimeoutMs`; the client reconnects by itself with a capped backoff.
 * Error messages pass through `scrub`, which removes the password.
 */
export class RedisConnection {
  readonly redacted: string;
  private readonly secret: string | undefined;
  private readonly client: Client;
  private subscriber: Client | null;
  private subscribing: Promise<Client> | null;
  private readonly listeners: Map<string, Set<(message: string) => void>>;
  private readonly onEvent: (event: RedisStoreEvent) => void;
  private everReady: boolean;
  private closed: boolean;
  private up: boolean;
  private readonly options: RedisConnectionOptions;
  private readonly url: string;

  constructor(resolved: ResolvedRedisUrl, options: RedisConnectionOptions) {
    this.redacted = resolved.redacted;
    this.secret = resolved.secret;
    this.url = resolved.url;
    this.options = options;
    this.onEvent = options.onEvent;
    this.subscriber = null;
    this.subscribing = null;
    this.listeners = new Map();
    this.everReady = false;
    this.closed = false;
    this.up = false;
    this.client = this.makeClient();
    this.client.on('ready', () => {
      this.everReady = true;
      if (!this.up) {
        this.up = true;
        this.emit({ type: 'connected', store: this.redacted });
      }
    });
  }

  /** Longest wait for one command (ms). */
  get commandTimeoutMs(): number {
    return this.options.commandTimeoutMs;
  }

  /** Whether the command connection is usable now. */
  get ready(): boolean {
    return this.client.isReady;
  }

  /**
   * Connects once. Rejects with an `Error` naming the redacted URL when the server cannot be
   * reached within `connectTimeoutMs`: a store that is down at start is a configuration error.
   */
  async connect(): Promise<void> {
    try {
      await this.client.connect();
    } catch (e) {
      this.closed = true;
      this.client.destroy();
      throw new Error(`cannot connect to Redis at ${this.redacted}: ${this.scrub(errorMessage(e))}`);
    }
  }

  /** Runs a script: EVALSHA, falling back to EVAL when the server does not have it yet. */
  async run(script: LuaScript, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    const rest = [String(keys.length), ...keys, ...args.map(String)];
    try {
      return await this.client.sendCommand(['EVALSHA', script.sha, ...rest]);
    } catch (e) {
      if (!errorMessage(e).startsWith('NOSCRIPT')) throw e;
      return await this.client.sendCommand(['EVAL', script.source, ...rest]);
    }
  }

  /** Calls `listener` for each message on `channel` (subscribing lazily on a second connection). */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    let set = this.listeners.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    if (!first) return;
    const sub = await this.subscriberClient();
    // node-redis re-subscribes by itself after a reconnect.
    await sub.subscribe(channel, (message) => {
      for (const l of this.listeners.get(channel) ?? []) {
        try {
          l(message);
        } catch {
          // A listener's bug must not stop the others.
        }
      }
    });
  }

  /** The message of an error with the password removed. */
  scrub(message: string): string {
    const s = this.secret;
    if (s === undefined || s.length === 0) return message;
    return message.split(s).join('***').split(encodeURIComponent(s)).join('***');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const clients = [this.client, ...(this.subscriber !== null ? [this.subscriber] : [])];
    await Promise.all(clients.map((c) => (c.isOpen ? c.close().catch(() => c.destroy()) : Promise.resolve())));
  }

  private subscriberClient(): Promise<Client> {
    if (this.subscribing === null) {
      const sub = this.makeClient();
      this.subscriber = sub;
      this.subscribing = sub.connect().then(() => sub);
      // A failed first subscription connect is retried by the next subscribe().
      this.subscribing.catch(() => {
        this.subscribing = null;
        this.subscriber = null;
        sub.destroy();
      });
    }
    return this.subscribing;
  }

  private makeClient(): Client {
    const client = createClient({
      url: this.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: this.options.commandTimeoutMs },
      socket: {
        connectTimeout: this.options.connectTimeoutMs,
        // Never-connected: give up (connect() reports it). Afterwards: retry for ever, backing
        // off to 1 s, so a restarted server is found again.
        reconnectStrategy: (retries: number, cause: Error) => (this.closed || !this.everReady ? cause : Math.min(25 * 2 ** retries, 1000)),
      },
    }) as unknown as Client;
    // Without a listener an 'error' event would throw and crash the process.
    client.on('error', (e: unknown) => {
      if (this.closed) return;
      if (this.up && client === this.client) {
        this.up = false;
        this.emit({ type: 'disconnected', store: this.redacted, message: this.scrub(errorMessage(e)) });
      }
    });
    return client;
  }

  private emit(event: RedisStoreEvent): void {
    try {
      this.onEvent(event);
    } catch {
      // Listeners must not break the store.
    }
  }
}

export function errorMessage(e: unknown): string {
  if (isSlowReply(e)) return 'no reply within commandTimeoutMs';
  return e instanceof Error ? e.message || e.name : String(e);
}

/**
 * A command that got no reply in time while connected: the store is slow (or this process's event
 * loop is), not gone, and the command may still have run. Rate gates wait and ask again instead of
 * failing over.
 */
export function isSlowReply(e: unknown): boolean {
  return e instanceof TimeoutError;
}
