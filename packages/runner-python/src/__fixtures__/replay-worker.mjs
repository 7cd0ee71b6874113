// Stands in for `python3 -m inferkit_bridge` in tests: replays a recorded transcript
// (*.frames.jsonl, see test/record_transcripts.py) over the same fds 3 and 4.
//   node replay-worker.mjs TRANSCRIPT [-m inferkit_bridge --in-fd 3 --out-fd 4]
// Each host frame that arrives must match the next recorded one (type, id, message text);
// then the worker frames recorded after it are sent. A mismatch exits with code 99 and says
// why on stderr, so a runner that sends something else fails its test instead of hanging.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const entries = readFileSync(process.argv[2], 'utf8').trim().split('\n').map((line) => JSON.parse(line));
const input = new net.Socket({ fd: 3, readable: true, writable: false });
const output = new net.Socket({ fd: 4, readable: false, writable: true });
let cursor = 0;
let buffer = Buffer.alloc(0);

function send(frame) {
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
  if (expected === undefined || expected.type !== frame.type || expected.id !== frame.id || text(expected) !== text(frame)) {
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
console.log(`replaying ${entries.length} entries`);
