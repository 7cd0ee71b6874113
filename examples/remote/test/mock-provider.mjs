// A local stand-in for the three provider APIs: streams a fixed reply in each one's SSE format
// and records what it received, so the example runs in CI without keys or network.
import http from 'node:http';

const REPLY = ['Streams ', 'flow ', 'home.'];

function sse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const e of events) res.write(e);
  res.end();
}

const openai = () => [
  ...REPLY.map((t, i) => `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: i === 0 ? { role: 'assistant', content: t } : { content: t }, finish_reason: null }] })}\n\n`),
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`,
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } })}\n\n`,
  'data: [DONE]\n\n',
];

const anthropic = () => {
  const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'm', stop_reason: null, usage: { input_tokens: 9, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...REPLY.map((t) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: t } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 3 } }),
    ev('message_stop', {}),
  ];
};

const gemini = () =>
  REPLY.map((t, i) => {
    const last = i === REPLY.length - 1;
    const body = {
      candidates: [{ content: { parts: [{ text: t }], role: 'model' }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
      usageMetadata: last ? { promptTokenCount: 9, candidatesTokenCount: 3, totalTokenCount: 12 } : { promptTokenCount: 9, totalTokenCount: 9 },
    };
    return `data: ${JSON.stringify(body)}\n\n`;
  });

/** Starts the mock; `requests` lists { path, headers, body } of every call. */
export async function startMockProvider() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      requests.push({ path: req.url, headers: req.headers, body: raw ? JSON.parse(raw) : undefined });
      if (req.url === '/v1/chat/completions') return sse(res, openai());
      if (req.url === '/v1/messages') return sse(res, anthropic());
      if (req.url.startsWith('/v1beta/models/') && req.url.includes(':streamGenerateContent')) return sse(res, gemini());
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, requests, close: () => new Promise((r) => server.close(r)) };
}
