import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GatewayConfigError, loadPolicyStore, parseGatewayConfig } from '../src/index.js';

const models = { m: { runner: 'remote', options: { provider: 'openai' } } };

function parse(store: unknown) {
  return parseGatewayConfig({ models, store }, '/tmp/gateway.json');
}

describe('config store', () => {
  it('names one known kind and keeps its options for the package to validate', () => {
    const c = parse({ redis: { url: 'redis://127.0.0.1:6379', prefix: 'inferkit:', mode: 'strict' } });
    expect(c.store).toEqual({ kind: 'redis', module: '@inferkit/store-redis', options: { url: 'redis://127.0.0.1:6379', prefix: 'inferkit:', mode: 'strict' } });
    expect(parseGatewayConfig({ models }, '/tmp/gateway.json').store).toBeUndefined();
  });

  it.each([
    [[], 'config.store'],
    [{}, 'config.store'],
    [{ redis: {}, memcached: {} }, 'config.store'],
    [{ memcached: {} }, 'config.store.memcached'],
    [{ redis: 'redis://x' }, 'config.store.redis'],
    [{ redis: { url: 'redis://x', mode: 'fast' } }, 'config.store.redis.mode'],
  ])('refuses %j at %s', (store, path) => {
    let err: unknown;
    try {
      parse(store);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayConfigError);
    expect((err as GatewayConfigError).path).toBe(path);
  });

  it('a store package that cannot be found, or exports no factory, is a config error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferkit-store-config-'));
    try {
      await expect(loadPolicyStore({ kind: 'redis', module: '@inferkit/no-such-store', options: {} }, dir)).rejects.toThrow(/cannot find module '@inferkit\/no-such-store'/);
      writeFileSync(join(dir, 'not-a-store.mjs'), 'export const x = 1;\n');
      await expect(loadPolicyStore({ kind: 'redis', module: './not-a-store.mjs', options: {} }, dir)).rejects.toThrow(/does not export a policyStoreFactory/);
      writeFileSync(join(dir, 'picky-store.mjs'), `import { InferenceError } from '${import.meta.resolve('@inferkit/inference-core')}';
export const policyStoreFactory = { kind: 'redis', create: (o) => { throw new InferenceError('bad_request', 'RedisStore: option mode is bad', { details: { param: 'mode' } }); } };
`);
      const err = await loadPolicyStore({ kind: 'redis', module: './picky-store.mjs', options: { mode: 'x' } }, dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GatewayConfigError);
      expect((err as GatewayConfigError).path).toBe('config.store.redis.mode');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
