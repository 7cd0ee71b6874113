import type { ContentPart, Message } from '@inferkit/inference-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rejectionOf } from '@inferkit/inference-core/testing';
import { batch } from '../__testing__/batches.js';
import { MockServer } from '../__testing__/mock-server.js';
import { createAnthropicRunner } from '../anthropic/anthropic-runner.js';
import { createGeminiRunner } from '../gemini/gemini-runner.js';
import { createOpenAIRunner } from '../openai/openai-runner.js';
import type { RemoteRunner } from '../remote-runner.js';

// The runners take images (capabilities().images), but only where the provider does: in user
// turns. System, assistant and tool messages are text only, and an image there is refused by the
// core's messageText (bad_request naming the content), never dropped from the prompt.

const image: ContentPart[] = [{ type: 'text', text: 'see' }, { type: 'image_url', url: 'https://example.com/cat.png' }];
const cases: Array<[string, Message[], string]> = [
  ['system', [{ role: 'system', content: image }, { role: 'user', content: 'hi' }], 'messages[0].content'],
  ['assistant', [{ role: 'user', content: 'hi' }, { role: 'assistant', content: image }, { role: 'user', content: 'and?' }], 'messages[1].content'],
  [
    'tool',
    [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'look', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'c1', content: image },
    ],
    'messages[2].content',
  ],
];

let server: MockServer;
let runners: RemoteRunner[];
beforeAll(async () => {
  server = await MockServer.start((_req, res) => {
    res.writeHead(500).end();
  });
  runners = [
    createOpenAIRunner({ baseUrl: `${server.url}/v1`, apiKey: 'k' }),
    createAnthropicRunner({ baseUrl: `${server.url}/v1`, apiKey: 'k' }),
    createGeminiRunner({ baseUrl: `${server.url}/v1beta`, apiKey: 'k' }),
  ];
});
afterAll(async () => {
  for (const r of runners) await r.close();
  await server.close();
});

describe('text-only roles refuse image parts', () => {
  for (const [role, messages, param] of cases) {
    test(`${role} messages`, async () => {
      for (const r of runners) {
        expect(r.capabilities().images).toBe(true);
        const err = await rejectionOf(r.execute(batch({ messages })));
        expect(err.kind).toBe('bad_request');
        expect(err.details).toEqual({ param });
      }
      expect(server.requests).toHaveLength(0);
    });
  }
});
