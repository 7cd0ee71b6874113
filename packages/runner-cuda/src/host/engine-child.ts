/**
 * Entry point of the process that hosts one native engine for `EngineProcess` (built to
 * `dist/engine-child.js`). It loads the addon, runs the parent's calls against it and sends token
 * deliveries back, coalesced once per turn of this process's event loop. It never throws across
 * the channel: every failure becomes a reply or an `error` event. When the parent goes away (the
 * IPC channel closes), it exits, so no engine outlives its runner.
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import type { AddonEngine, AddonModule, AddonRequestId, AddonTokenEvent } from '../binding/addon-types.js';
import { FINISH_CODES, type ChildMessage, type ParentMessage, type WireError } from './engine-protocol.js';

const require = createRequire(import.meta.url);

let engine: AddonEngine | null = null;
// Parent stream id -> engine request id, while the stream is open.
const open = new Map<number, AddonRequestId>();
// Deliveries since the last flush, in the packed layout of WireDeliveries.
let packed: number[] = [];
let errors: Record<number, WireError> | undefined;
let flushScheduled = false;

function send(message: ChildMessage): void {
  // After a disconnect there is nobody to tell; the 'disconnect' handler is already exiting. The
  // callback keeps a send that races the disconnect from becoming an uncaught 'error'.
  if (process.connected) process.send!(message, undefined, undefined, ignore);
}

function ignore(): void {}

function wireError(e: unknown): WireError {
  const kind = (e as { kind?: unknown } | null)?.kind;
  return { kind: typeof kind === 'string' ? kind : 'internal', message: (e as Error | null)?.message ?? String(e) };
}

function flush(): void {
  flushScheduled = false;
  if (packed.length === 0) return;
  const message: ChildMessage = { op: 'events', packed: Int32Array.from(packed) };
  if (errors !== undefined) message.errors = errors;
  packed = [];
  errors = undefined;
  send(message);
}

function deliver(id: number, tokens: Int32Array, cachedTokens: number | undefined, finishReason?: AddonTokenEvent['finishReason'], error?: WireError): void {
  if (finishReason !== undefined) open.delete(id);
  packed.push(id, FINISH_CODES.indexOf(finishReason), cachedTokens ?? -1, tokens.length);
  for (let i = 0; i < tokens.length; i++) packed.push(tokens[i]!);
  if (error !== undefined) (errors ??= {})[id] = error;
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

async function answer(rid: number, work: () => unknown): Promise<void> {
  try {
    send({ op: 'reply', rid, ok: true, value: await work() });
  } catch (e) {
    send({ op: 'reply', rid, ok: false, error: wireError(e) });
  }
}

function notLoaded(): Error {
  return Object.assign(new Error('the engine process has no model loaded'), { kind: 'bad_request' });
}

function handle(message: ParentMessage): void {
  switch (message.op) {
    case 'load':
      void answer(message.rid, async () => {
        const binding = require(message.binaryPath) as AddonModule;
        const e = new binding.Engine();
        try {
          const info = await e.load(message.options, (p) => send({ op: 'progress', rid: message.rid, fraction: p.fraction, stage: p.stage }));
          engine = e;
          return info;
        } catch (err) {
          await e.close().catch(() => undefined);
          throw err;
        }
      });
      return;
    case 'submit': {
      const { id } = message;
      try {
        if (engine === null) throw notLoaded();
        const requestId = engine.submit(message.request, (ev: AddonTokenEvent) =>
          deliver(id, ev.tokens, ev.cachedTokens, ev.finishReason, ev.error === undefined ? undefined : wireError(ev.error)),
        );
        // The addon calls back through a thread-safe function, so nothing was delivered yet.
        open.set(id, requestId);
      } catch (e) {
        deliver(id, new Int32Array(0), undefined, 'error', wireError(e));
      }
      return;
    }
    case 'cancel': {
      const requestId = open.get(message.id);
      if (requestId !== undefined && engine !== null) engine.cancel(requestId);
      return;
    }
    case 'stats':
      void answer(message.rid, () => {
        if (engine === null) throw notLoaded();
        return engine.stats();
      });
      return;
    case 'logits':
      void answer(message.rid, () => {
        if (engine === null) throw notLoaded();
        return engine.logits(message.tokens);
      });
      return;
    case 'fault':
      try {
        engine?.injectFault(message.kind);
      } catch {
        // A build without the fault hook refuses; the parent's test then sees no poisoning.
      }
      return;
    case 'close':
      void answer(message.rid, async () => {
        const e = engine;
        engine = null;
        if (e !== null) await e.close();
      }).then(() => {
        // Let the cancellations the close produced and the reply leave before exiting.
        flush();
        process.disconnect();
      });
      return;
  }
}

process.on('message', (m) => handle(m as ParentMessage));
process.on('disconnect', () => process.exit(0));
