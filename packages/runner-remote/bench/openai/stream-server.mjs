// Loopback server for the benchmark, run in its own process (bench/run.mjs forks it).
// POST /v1/chat/completions with model "bench-<n>" streams n OpenAI-format content chunks,
// then the finish chunk, the include_usage chunk and [DONE], as fast as the socket takes
// them: each body is built once per n and written with a single res.end().
import { createServer } from 'node:http';

const bodies = new Map();

function buildBody(n) {
  const head = '{"id":"chatcmpl-9tZXEmwtoDf6vqCqEWSvDP8jx9OXe","object":"chat.completion.chunk","created":1723031664,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_845eaabc1f","choices":[{"index":0,';
  const parts = [`data: ${head}"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n`];
  for (let i = 0; i < n; i++) parts.push(`data: ${head}"delta":{"content":" tok${i % 100}"},"logprobs":null,"finish_reason":null}]}\n\n`);
  parts.push(`data: ${head}"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n`);
  parts.push(
    'data: {"id":"chatcmpl-9tZXEmwtoDf6vqCqEWSvDP8jx9OXe","object":"chat.completion.chunk","created":1723031664,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_845eaabc1f","choices":[],"usage":{"prompt_tokens":17,"completion_tokens":' +
      n +
      ',"total_tokens":' +
      (n + 17) +
      '}}\n\n',
  );
  parts.push('data: [DONE]\n\n');
  return Buffer.from(parts.join(''));
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let n = 0;
    try {
      const m = /^bench-(\d+)$/.exec(JSON.parse(Buffer.concat(chunks).toString()).model);
      n = m ? Number(m[1]) : 0;
    } catch {
      n = 0;
    }
    if (!(n > 0)) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"model must be bench-<n>","type":"invalid_request_error"}}');
      return;
    }
    let body = bodies.get(n);
    if (body === undefined) bodies.set(n, (body = buildBody(n)));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
// A deep accept queue: 1,000 clients connect at once.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  process.send({ port: server.address().port });
});
process.on('disconnect', () => process.exit(0));
