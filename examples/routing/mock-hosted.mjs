// A stand-in for a hosted OpenAI-compatible API, so the example runs without a key or a network:
// every chat completion answers the same short reply, streamed in OpenAI's SSE format when the
// request asks for a stream, as one JSON completion otherwise. `requests` lists the bodies it
// received.
import http from 'node:http';

const REPLY = ['This answer ', 'comes from ', 'the hosted fallback.'];

function events(model) {
  const chunk = (delta, finish) => ({ id: 'mock-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] });
  return [
    ...REPLY.map((t, i) => chunk(i === 0 ? { role: 'assistant', content: t } : { content: t }, null)),
    chunk({}, 'stop'),
    { id: 'mock-1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 12, completion_tokens: REPLY.length, total_tokens: 12 + REPLY.length } },
  ].map((e) => `data: ${JSON.stringify(e)}\n\n`);
}

/** Starts the mock on a free loopback port; `baseUrl` is what an OpenAI client takes. */
export async function startMockHosted() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'invalid JSON' } }));
        return;
      }
      requests.push(body);
      if (body.stream !== true) {
        const completion = {
          id: 'mock-1',
          object: 'chat.completion',
          created: 1,
          model: String(body.model),
          choices: [{ index: 0, message: { role: 'assistant', content: REPLY.join('') }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 12, completion_tokens: REPLY.length, total_tokens: 12 + REPLY.length },
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(completion));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const e of events(String(body.model))) res.write(e);
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${server.address().port}/v1`,
    reply: REPLY.join(''),
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
