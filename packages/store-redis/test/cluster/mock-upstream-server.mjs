// A mock OpenAI-compatible provider, run as its own process so that its clock and event loop are
// not the test client's: it counts what reaches it and enforces its own limits with 429, which the
// gateways in front must never trigger. Control: GET /__stats, POST /__control { mode, delayMs,
// reset, release }. Modes: ok, fail (500), hold (answers on release). A request whose last message
// contains "flaky" fails with 500 the first time it is seen.
// Usage: node mock-upstream-server.mjs '{"requestsPerMinute":600,"tolerance":0.02,"maxConcurrent":8}'
import { createServer } from 'node:http';

const options = JSON.parse(process.argv[2] ?? '{}');
const stats = { admittedAt: [], rejected429: 0, failed500: 0, hits: 0, inFlight: 0, maxInFlight: 0 };
let mode = 'ok';
let delayMs = 0;
let held = [];
const seenFlaky = new Set();
const rpm = options.requestsPerMinute;
const cap = rpm !== undefined ? rpm * (1 + (options.tolerance ?? 0.02)) : Infinity;
let level = cap;
let last = Date.now();

function admit() {
  if (rpm === undefined) return true;
  const now = Date.now();
  level = Math.min(cap, level + ((now - last) * rpm) / 60_000);
  last = now;
  if (level < 1) return false;
  level -= 1;
  return true;
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

function answer(res, model, stream) {
  if (res.destroyed) return;
  const usage = { prompt_tokens: 10, completion_tokens: 40, total_tokens: 50 };
  if (!stream) {
    json(res, 200, {
      id: 'chatcmpl-mock',
      object: 'chat.completion',
      created: 0,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage,
    });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (o) => `data: ${JSON.stringify(o)}\n\n`;
  const base = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created: 0, model };
  res.end(
    ev({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'ok' }, finish_reason: null }] }) +
      ev({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }) +
      ev({ ...base, choices: [], usage }) +
      'data: [DONE]\n\n',
  );
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    if (req.url === '/__stats') return json(res, 200, stats);
    if (req.url === '/__control') {
      const c = JSON.parse(text || '{}');
      if (c.mode !== undefined) mode = c.mode;
      if (c.delayMs !== undefined) delayMs = c.delayMs;
      if (c.reset) Object.assign(stats, { admittedAt: [], rejected429: 0, failed500: 0, hits: 0, maxInFlight: stats.inFlight });
      if (c.release) {
        const h = held;
        held = [];
        for (const f of h) f();
      }
      return json(res, 200, { ok: true });
    }
    stats.hits++;
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return json(res, 400, { error: { message: 'not JSON' } });
    }
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    let done = false;
    res.once('close', () => {
      if (!done) {
        done = true;
        stats.inFlight--;
      }
    });
    const overConcurrency = options.maxConcurrent !== undefined && stats.inFlight > options.maxConcurrent;
    if (overConcurrency || !admit()) {
      stats.rejected429++;
      return json(res, 429, { error: { message: 'rate limited by the mock', type: 'rate_limit_error' } });
    }
    const lastMessage = body.messages?.[body.messages.length - 1]?.content;
    const content = typeof lastMessage === 'string' ? lastMessage : '';
    if (mode === 'fail' || (content.includes('flaky') && !seenFlaky.has(content) && seenFlaky.add(content))) {
      stats.failed500++;
      return json(res, 500, { error: { message: 'mock failure', type: 'server_error' } });
    }
    stats.admittedAt.push(Date.now());
    const go = () => answer(res, body.model ?? 'mock', body.stream === true);
    if (mode === 'hold') held.push(go);
    else if (delayMs > 0) setTimeout(go, delayMs);
    else go();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
