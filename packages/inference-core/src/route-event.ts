import type { CircuitTransition } from './circuit-breaker.js';
import type { InferenceError } from './inference-error.js';

/**
 * What a `Router` reports through `onEvent` (told apart by `type`). `target` is the target's name;
 * times are clock ms.
 */
export type RouteEvent =
  | {
      type: 'routed';
      requestId: string;
      atMs: number;
      /** The target the request (or a continuation of it) was sent to. */
      target: string;
      /** 1 for the first target tried, 2 after one failover, … */
      attempt: number;
    }
  | {
      type: 'failover';
      requestId: string;
      atMs: number;
      /** The target that failed before the first chunk. */
      from: string;
      error: InferenceError;
    }
  | {
      type: 'resumed';
      requestId: string;
      atMs: number;
      /** The target whose stream failed mid-answer. */
      from: string;
      /** The target that continues it. */
      to: string;
      /** 1 for the first continuation. */
      resume: number;
      /** Characters of text the caller had received when the stream failed. */
      deliveredChars: number;
      error: InferenceError;
    }
  | { type: 'target_down'; atMs: number; target: string; transition: CircuitTransition }
  | { type: 'target_up'; atMs: number; target: string; transition: CircuitTransition };
