import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { RemoteRunner } from '../remote-runner.js';
import { expectIdle } from './batches.js';
import { MockServer, type MockHandler } from './mock-server.js';

/** The server and the runner of the current test; see `serverAndRunnerPerTest`. */
export interface ServerAndRunner<R> {
  /** The test's server. A test that starts one itself assigns it here, so that it is closed too. */
  server: MockServer | undefined;
  /** The runner under test. A test that builds one itself assigns it here, so that it is checked and closed too. */
  runner: R | undefined;
  /** Starts a `MockServer` with `handler`, then the runner `make` builds for its origin (`http://127.0.0.1:port`). */
  start(handler: MockHandler, make: (origin: string) => R): Promise<{ server: MockServer; runner: R }>;
}

export interface ServerAndRunnerOptions<R> {
  /** The `RemoteRunner` whose connection pool must be idle after the test (default: the runner itself). */
  pool?: (runner: R) => RemoteRunner;
  /** Fail a test during which a promise rejection went unhandled (checked after a 10 ms settle). */
  failOnUnhandledRejection?: boolean;
}

/**
 * One mock server and one runner per test. Registers (call it at the top of a test file) an
 * afterEach hook that waits until the runner's pool has nothing in flight, so a request that
 * keeps a socket fails its own test, then closes the runner and the server.
 */
export function serverAndRunnerPerTest<R extends { close(): Promise<void> } = RemoteRunner>(
  options: ServerAndRunnerOptions<R> = {},
): ServerAndRunner<R> {
  const pool = options.pool ?? ((r: R) => r as unknown as RemoteRunner);
  const unhandled: unknown[] = [];
  if (options.failOnUnhandledRejection === true) {
    const onUnhandled = (e: unknown) => unhandled.push(e);
    beforeAll(() => {
      process.on('unhandledRejection', onUnhandled);
    });
    afterAll(() => {
      process.off('unhandledRejection', onUnhandled);
    });
  }
  const current: ServerAndRunner<R> = {
    server: undefined,
    runner: undefined,
    async start(handler, make) {
      const server = await MockServer.start(handler);
      current.server = server;
      const runner = make(server.url);
      current.runner = runner;
      return { server, runner };
    },
  };
  afterEach(async () => {
    // Late socket events settle before stray rejections are counted.
    if (options.failOnUnhandledRejection === true) await new Promise((r) => setTimeout(r, 10));
    const { server, runner } = current;
    current.server = undefined;
    current.runner = undefined;
    try {
      if (runner !== undefined) await expectIdle(pool(runner));
    } finally {
      await runner?.close();
      await server?.close();
    }
    // Emptied each time so that one leak fails one test, not every test after it.
    if (options.failOnUnhandledRejection === true) expect(unhandled.splice(0)).toEqual([]);
  });
  return current;
}
