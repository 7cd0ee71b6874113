// A local stand-in for the hosted provider APIs, so the examples and their tests run without a key
// or a network: every call answers the same reply, streamed in the provider's SSE format —
// OpenAI chat completions (also unary when `stream` is not true), Anthropic messages, Gemini
// streamGenerateContent — and is recorded.
import http from 'node:http';

const PROMPT_TOKENS = 9;
// Request bodies are small JSON; a larger one is refused rather than buffered.
const MAX_BODY_BYTES = 1024 * 1024;

function openaiStream(reply, model) {
  const chunk = (delta, finish) => ({ id: 'mock-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const usage = { prompt_tokens: PROMPT_TOKENS, completion_tokens: reply.length, total_tokens: PROMPT_TOKENS + reply.length };
  return [
    ...reply.map((t, i) => chunk(i === 0 ? { role: 'assistant', content: t } : { content: t }, null)),
    chunk({}, 'stop'),
    { id: 'mock-1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage },
  ]
    .map((e) => `data: ${JSON.stringify(e)}\n\n`)
    .concat('data: [DONE]\n\n');
}

function openaiCompletion(reply, model) {
  return {
    id: 'mock-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: reply.join('') }, finish_reason: 'stop' }],
    usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: reply.length, total_tokens: PROMPT_TOKENS + reply.length },
  };
}

function anthropicStream(reply, model) {
  const ev = (type, data) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return [
    ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model, stop_reason: null, usage: { input_tokens: PROMPT_TOKENS, output_tokens: 1 } } }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...reply.map((t) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: t } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: reply.length } }),
    ev('message_stop', {}),
  ];
}

function geminiStream(reply) {
  return reply.map((t, i) => {
    const last = i === reply.length - 1;
    const body = {
      candidates: [{ content: { parts: [{ text: t }], role: 'model' }, index: 0, ...(last ? { finishReason: 'STOP' } : {}) }],
      usageMetadata: last
        ? { promptTokenCount: PROMPT_TOKENS, candidatesTokenCount: reply.length, totalTokenCount: PROMPT_TOKENS + reply.length }
        : { promptTokenCount: PROMPT_TOKENS, totalTokenCount: PROMPT_TOKENS },
    };
    return `data: ${JSON.stringify(body)}\n\n`;
  });
}

function send(res, status, contentType, body) {
  res.writeHead(status, { 'content-type': contentType });
  res.end(body);
}

function sse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  for (const e of events) res.write(e);
  res.end();
}

const error = (message) => JSON.stringify({ error: { message } });

/**
 * Starts the mock on a free loopback port. `reply`: the answer, one streamed delta per piece.
 * Returns `origin`, `baseUrl` (the OpenAI-compatible base URL, `origin/v1`), `reply` as one
 * string, `requests` ({ path, headers, body } of every call) and `close()`.
 */
export async function startMockProvider({ reply = ['Streams ', 'flow ', 'home.'] } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const parts = [];
    let size = 0;
    req.on('data', (d) => {
      size += d.length;
      if (size <= MAX_BODY_BYTES) parts.push(d);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return send(res, 413, 'application/json', error('request body too large'));
      const raw = Buffer.concat(parts).toString('utf8');
      let body;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        return send(res, 400, 'application/json', error('invalid JSON'));
      }
      requests.push({ path: req.url, headers: req.headers, body });
      const model = String(body?.model ?? 'mock');
      if (req.method !== 'POST') return send(res, 404, 'application/json', error(`no route ${req.method} ${req.url}`));
      if (req.url === '/v1/chat/completions') {
        if (body?.stream === true) return sse(res, openaiStream(reply, model));
        return send(res, 200, 'application/json', JSON.stringify(openaiCompletion(reply, model)));
      }
      if (req.url === '/v1/messages') return sse(res, anthropicStream(reply, model));
      if (req.url.startsWith('/v1beta/models/') && req.url.includes(':streamGenerateContent')) return sse(res, geminiStream(reply));
      return send(res, 404, 'application/json', error(`no route ${req.method} ${req.url}`));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, baseUrl: `${origin}/v1`, reply: reply.join(''), requests, close: () => new Promise((resolve) => server.close(resolve)) };
}
