import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseGatewayConfig, GatewayConfigError, RUNNER_KINDS } from '../src/index.js';

const FILE = '/srv/app/gateway.json';

describe('parseGatewayConfig', () => {
  test('fills defaults, resolves kinds and relative weight paths', () => {
    const c = parseGatewayConfig(
      {
        models: {
          tiny: { runner: 'cuda', weights: { kind: 'local_path', path: '../models/tiny' }, supervise: { maxConcurrent: 2 } },
          custom: { runner: { module: './my-runner.mjs', export: 'MyRunner' }, options: { a: 1 }, runnerModel: 'x' },
        },
      },
      FILE,
    );
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(8080);
    expect(c.baseDir).toBe('/srv/app');
    expect(c.models.tiny!.runner).toEqual(RUNNER_KINDS.cuda);
    expect(c.models.tiny!.weights).toEqual({ kind: 'local_path', path: resolve('/srv/models/tiny') });
    expect(c.models.tiny!.supervise).toEqual({ maxConcurrent: 2 });
    expect(c.models.custom!.runner).toEqual({ module: './my-runner.mjs', export: 'MyRunner' });
    expect(c.models.custom!.options).toEqual({ a: 1 });
    expect(c.models.custom!.runnerModel).toBe('x');
  });

  const bad: Array<[string, unknown, string]> = [
    ['not an object', [], 'config'],
    ['no models', { models: {} }, 'config.models'],
    ['typo at top level', { prot: 1, models: { a: { runner: 'cuda' } } }, 'config.prot'],
    ['port out of range', { port: 70000, models: { a: { runner: 'cuda' } } }, 'config.port'],
    ['unknown kind', { models: { a: { runner: 'tpu' } } }, 'config.models.a.runner'],
    ['runner missing', { models: { a: {} } }, 'config.models.a.runner'],
    ['half a reference', { models: { a: { runner: { module: 'x' } } } }, 'config.models.a.runner'],
    ['options not an object', { models: { a: { runner: 'cuda', options: 3 } } }, 'config.models.a.options'],
    ['bad weights kind', { models: { a: { runner: 'cuda', weights: { kind: 'ftp' } } } }, 'config.models.a.weights.kind'],
    ['weights path missing', { models: { a: { runner: 'cuda', weights: { kind: 'local_path' } } } }, 'config.models.a.weights.path'],
    ['unknown model key', { models: { a: { runner: 'cuda', wieghts: {} } } }, 'config.models.a.wieghts'],
  ];
  for (const [name, doc, path] of bad) {
    test(`rejects ${name} at ${path}`, () => {
      let err: unknown;
      try {
        parseGatewayConfig(doc, FILE);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GatewayConfigError);
      expect((err as GatewayConfigError).path).toBe(path);
    });
  }
});
