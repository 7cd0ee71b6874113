// Stands in for `python3 -m inferkit_bridge` in tests: replays a recorded transcript
// (*.frames.jsonl, see test/record_transcripts.py) over the same fds 3 and 4, and answers
// liveness pings on fds 5 and 6 as the bridge's liveness thread does.
//   node replay-worker.mjs TRANSCRIPT [-m inferkit_bridge --in-fd 3 --out-fd 4]
// Each host frame that arrives must match the next recorded one (type, message text, and the
// same request: recorded ids are mapped onto the runner's wire ids as requests arrive); then the
// worker frames recorded after it are sent, with ids mapped back. A mismatch exits with code 99 and says
// why on stderr, so a runner that sends something else fails its test instead of hanging.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const entries = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((line) => JSON.parse(line));
const input = new net.Socket({ fd: 3, readable: true, writable: false });
const output = new net.Socket({ fd: 4, readable: false, writable: true });
let cursor = 0;
const ids = new Map(); // recorded id -> the runner's wire id
let buffer = Buffer.alloc(0);

function send(recorded) {
  const frame = recorded.id !== undefined && ids.has(recorded.id) ? { ...recorded, id: ids.get(recorded.id) } : recorded;
  const body = Buffer.from(JSON.stringify(frame), 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  output.write(Buffer.concat([header, body]));
}

function flushWorkerFrames() {
  while (cursor < entries.length && !('host' in entries[cursor])) {
    const entry = entries[cursor++];
    if ('worker' in entry) send(entry.worker);
    else if ('exit' in entry) output.end(() => process.exit(entry.exit));
  }
}

function text(frame) {
  return JSON.stringify(frame.messages?.map((m) => m.content) ?? frame.prompt ?? null);
}

function onHostFrame(frame) {
  const expected = entries[cursor]?.host;
  if (expected?.type === 'generate' && !ids.has(expected.id)) ids.set(expected.id, frame.id);
  const sameRequest = expected?.id === undefined ? frame.id === undefined : ids.get(expected.id) === frame.id;
  if (expected === undefined || expected.type !== frame.type || !sameRequest || text(expected) !== text(frame)) {
    process.stderr.write(`replay: expected ${JSON.stringify(expected)}, got ${JSON.stringify(frame)}\n`);
    process.exit(99);
  }
  cursor++;
  flushWorkerFrames();
}

input.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
    const length = buffer.readUInt32BE(0);
    onHostFrame(JSON.parse(buffer.subarray(4, 4 + length).toString('utf8')));
    buffer = buffer.subarray(4 + length);
  }
});
input.on('end', () => process.exit(0));

const livenessIn = new net.Socket({ fd: 5, readable: true, writable: false });
const livenessOut = new net.Socket({ fd: 6, readable: false, writable: true });
let pings = Buffer.alloc(0);
livenessIn.on('data', (chunk) => {
  pings = Buffer.concat([pings, chunk]);
  while (pings.length >= 4 && pings.length >= 4 + pings.readUInt32BE(0)) {
    const length = pings.readUInt32BE(0);
    const ping = JSON.parse(pings.subarray(4, 4 + length).toString('utf8'));
    pings = pings.subarray(4 + length);
    const body = Buffer.from(JSON.stringify({ type: 'alive', nonce: ping.nonce, loopLagMs: 0 }), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length);
    livenessOut.write(Buffer.concat([header, body]));
  }
});
livenessIn.on('error', () => {});
livenessOut.on('error', () => {});
console.log(`replaying ${entries.length} entries`);
