/**
 * Messages between `EngineProcess` (parent) and `engine-child` (the process that hosts the addon).
 * They travel over Node's IPC channel with `serialization: 'advanced'`, so typed arrays arrive as
 * typed arrays. Requests that expect an answer carry `rid`; token streams are keyed by the
 * parent's request id, so the parent never waits for the child to name a stream.
 * @internal
 * @module
 */
import type { AddonEngineStats, AddonFinishReason, AddonLoadOptions, AddonSubmitRequest } from '../binding/addon-types.js';

/** An error as it crosses the process boundary: an `InferenceError` kind and a message. @internal */
export interface WireError {
  kind: string;
  message: string;
}

/** @internal */
export type ParentMessage =
  | { op: 'load'; rid: number; binaryPath: string; options: AddonLoadOptions }
  | { op: 'submit'; id: number; request: AddonSubmitRequest }
  | { op: 'cancel'; id: number }
  | { op: 'stats'; rid: number }
  | { op: 'logits'; rid: number; tokens: Int32Array }
  | { op: 'fault'; kind: 'sticky_failure' }
  | { op: 'close'; rid: number };

/**
 * Token deliveries, packed so that one message costs one typed-array copy however many streams
 * it carries: per delivery `[stream id, finish code, cached tokens (-1: not known yet), n, ...n
 * token ids]` (see `FINISH_CODES`).
 * An `error` delivery's error travels in `errors`, keyed by stream id.
 * @internal
 */
export interface WireDeliveries {
  packed: Int32Array;
  errors?: Record<number, WireError>;
}

/** Finish reasons by their code in `WireDeliveries.packed` (0: the stream goes on). @internal */
export const FINISH_CODES: readonly (AddonFinishReason | undefined)[] = [undefined, 'stop', 'length', 'cancelled', 'error'];

/** @internal */
export type ChildMessage =
  | { op: 'reply'; rid: number; ok: true; value: unknown }
  | { op: 'reply'; rid: number; ok: false; error: WireError }
  | { op: 'progress'; rid: number; fraction: number; stage: string }
  // Deliveries are coalesced: everything the engine produced since the child's last turn.
  | ({ op: 'events' } & WireDeliveries);

/** What a `stats` reply holds. @internal */
export type StatsReply = AddonEngineStats;
