import { runnerConformanceCases, runnerFactoryConformanceCases } from '@inferkit/inference-core/testing';
import type { ModelRunner } from '@inferkit/inference-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { MockServer, sendJson } from './__testing__/mock-server.js';
import { wireHandler, type WireKind } from './__testing__/wire-servers.js';
import { createAnthropicRunner } from './anthropic/anthropic-runner.js';
import { createRemoteRunner, runnerFactory, type RemoteRunnerConfig } from './create-remote-runner.js';
import { createGeminiRunner } from './gemini/gemini-runner.js';
import { createAzureOpenAIRunner } from './openai/azure-openai-runner.js';
import { createOpenAICompatibleRunner } from './openai/openai-compatible-runner.js';
import { createOpenAIRunner } from './openai/openai-runner.js';

const servers: Partial<Record<WireKind, MockServer>> = {};
let failing: MockServer;

beforeAll(async () => {
  for (const kind of ['openai', 'anthropic', 'gemini'] as const) servers[kind] = await MockServer.start(wireHandler(kind));
  // A backend that is down hard: every call gets a 500 with an error body.
  failing = await MockServer.start((_req, res) => sendJson(res, 500, { error: { message: 'backend exploded', type: 'server_error' } }));
});
afterAll(async () => {
  for (const s of Object.values(servers)) await s?.close();
  await failing.close();
});

const url = (kind: WireKind) => servers[kind]!.url;

interface Subject {
  name: string;
  model: string;
  create: (base: () => string) => ModelRunner;
  wire: WireKind;
}

const subjects: Subject[] = [
  { name: 'OpenAI', wire: 'openai', model: 'gpt-4o-mini', create: (base) => createOpenAIRunner({ baseUrl: `${base()}/v1`, apiKey: 'sk-test' }) },
  {
    name: 'OpenAI-compatible (vLLM preset)',
    wire: 'openai',
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    create: (base) => createOpenAICompatibleRunner({ preset: 'vllm', baseUrl: `${base()}/v1` }),
  },
  {
    name: 'OpenAI-compatible (llama.cpp preset)',
    wire: 'openai',
    model: 'qwen2.5-0.5b-instruct',
    create: (base) => createOpenAICompatibleRunner({ preset: 'llamacpp', baseUrl: `${base()}/v1` }),
  },
  {
    name: 'OpenAI-compatible (DeepSeek preset: text only)',
    wire: 'openai',
    model: 'deepseek-chat',
    create: (base) => createOpenAICompatibleRunner({ preset: 'deepseek', baseUrl: `${base()}/v1`, apiKey: 'sk-ds' }),
  },
  {
    name: 'runnerFactory (supervised Anthropic)',
    wire: 'anthropic',
    model: 'claude-haiku-4-5',
    create: (base) =>
      runnerFactory.create({
        provider: 'anthropic',
        baseUrl: `${base()}/v1`,
        apiKey: 'sk-ant-test',
        policy: { retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 } },
      }) as ModelRunner,
  },
  {
    name: 'runnerFactory (policy false: the bare Gemini runner)',
    wire: 'gemini',
    model: 'gemini-2.5-flash',
    create: (base) => runnerFactory.create({ provider: 'gemini', baseUrl: `${base()}/v1beta`, apiKey: 'goog-test', policy: false }) as ModelRunner,
  },
  { name: 'Azure OpenAI', wire: 'openai', model: 'gpt-4o', create: (base) => createAzureOpenAIRunner({ endpoint: base(), apiKey: 'az-test' }) },
  { name: 'Anthropic', wire: 'anthropic', model: 'claude-haiku-4-5', create: (base) => createAnthropicRunner({ baseUrl: `${base()}/v1`, apiKey: 'sk-ant-test' }) },
  { name: 'Gemini', wire: 'gemini', model: 'gemini-2.5-flash', create: (base) => createGeminiRunner({ baseUrl: `${base()}/v1beta`, apiKey: 'goog-test' }) },
  {
    name: 'createRemoteRunner (supervised OpenAI)',
    wire: 'openai',
    model: 'gpt-4o-mini',
    create: (base) =>
      createRemoteRunner({
        provider: 'openai',
        baseUrl: `${base()}/v1`,
        apiKey: 'sk-test',
        // Short retry delays: the failing-runner case retries a 500 twice.
        policy: { retry: { maxRetries: 2, initialDelayMs: 1, maxDelayMs: 2 } },
      }),
  },
  {
    name: 'createRemoteRunner (supervised Anthropic)',
    wire: 'anthropic',
    model: 'claude-haiku-4-5',
    create: (base) =>
      createRemoteRunner({ provider: 'anthropic', baseUrl: `${base()}/v1`, apiKey: 'sk-ant-test', policy: { retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 } } }),
  },
  {
    name: 'createRemoteRunner (supervised Gemini)',
    wire: 'gemini',
    model: 'gemini-2.5-flash',
    create: (base) =>
      createRemoteRunner({ provider: 'gemini', baseUrl: `${base()}/v1beta`, apiKey: 'goog-test', policy: { retry: { maxRetries: 1, initialDelayMs: 1, maxDelayMs: 1 } } }),
  },
];

for (const s of subjects) {
  describe(`conformance: ${s.name}`, () => {
    const cases = runnerConformanceCases({
      create: () => s.create(() => url(s.wire)),
      capabilities: {
        model: s.model,
        rebuildCauses: ['manual', 'remote_auth_failure', 'remote_config_change'],
        createFailing: () => s.create(() => failing.url),
        timeoutMs: 5000,
      },
    });
    for (const c of cases) test(c.name, c.run);
  });
}

// The registry entry the gateway loads: its options are checked like every runner's.
const factoryOptions: RemoteRunnerConfig = { provider: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-test' };
describe('conformance: runnerFactory', () => {
  const cases = runnerFactoryConformanceCases<RemoteRunnerConfig>({
    factory: runnerFactory,
    options: factoryOptions,
    invalid: [
      { options: { apiKey: 'k' }, param: 'provider' },
      { options: { provider: 'mystery' }, param: 'provider' },
      { options: { ...factoryOptions, policy: 'strict' }, param: 'policy' },
      { options: { ...factoryOptions, timeouts: { idleMs: -1 } }, param: 'timeouts.idleMs' },
      { options: { ...factoryOptions, timeouts: { idelMs: 5 } }, param: 'timeouts.idelMs' },
      { options: { ...factoryOptions, baseUrl: 'ftp://x' }, param: 'baseUrl' },
      { options: { ...factoryOptions, apiKey: { from: 'vault', name: 'K' } }, param: 'apiKey.from' },
      { options: { ...factoryOptions, headers: { 'x-ok': 'a\r\nInjected: 1' } }, param: 'headers.x-ok' },
      { options: { ...factoryOptions, pricing: { 'gpt-x': { inputPerMTok: -1, outputPerMTok: 1 } } }, param: 'pricing["gpt-x"].inputPerMTok' },
      { options: { ...factoryOptions, rateLimits: { requestsPerMinute: 0 } }, param: 'rateLimits.requestsPerMinute' },
      { options: { ...factoryOptions, maxConnections: 1.5 }, param: 'maxConnections' },
      { options: { ...factoryOptions, tokenLimitField: 'max' }, param: 'tokenLimitField' },
      { options: { ...factoryOptions, extraBody: { n: 3 } }, param: 'extraBody.n' },
      { options: { provider: 'openai-compatible', preset: 'vllm', capabilities: { continuation: 'yes' } }, param: 'capabilities.continuation' },
      { options: { provider: 'openai-compatible', preset: 'vllm', capabilities: { tokenIds: true } }, param: 'capabilities.tokenIds' },
      { options: { provider: 'openai-compatible', preset: 'custom' }, param: 'baseUrl' },
      { options: { provider: 'azure-openai', apiKey: 'k' }, param: 'endpoint' },
      { options: { provider: 'azure-openai', resource: 'r', baseUrl: 'https://x' }, param: 'baseUrl' },
      { options: { provider: 'anthropic', apiKey: 'k', defaultMaxTokens: 0 }, param: 'defaultMaxTokens' },
      { options: { provider: 'anthropic', apiKey: 'k', organization: 'o' }, param: 'organization' },
      { options: { provider: 'gemini', apiKey: 'k', vertex: { project: 'p' } }, param: 'vertex.location' },
      { options: { provider: 'gemini', vertex: { project: 'p', location: 'us-central1' } }, param: 'apiKey' },
    ] as Array<{ options: unknown; param: string }>,
  });
  for (const c of cases) test(c.name, c.run);
});
