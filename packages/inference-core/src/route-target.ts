import type { ModelRunner } from './model-runner.js';

/**
 * One target of `route()`: a runner, or a runner with routing settings.
 * - `name`: shown in stats, events and errors (default: `<runtimeKind>#<index>`); unique per router.
 * - `model`: replaces `batch.model` for this target (one logical name → a provider model id here,
 *   a local model name there).
 * - `weight`: breaks ties between equally loaded or equally cheap targets (higher first; default 1).
 * - `maxConcurrent`: requests in flight on this target at once; when every eligible target is
 *   full, requests wait (FIFO, bounded by their abort signal) for the first free slot.
 */
export type RouteTarget =
  | ModelRunner
  | {
      runner: ModelRunner;
      name?: string;
      model?: string;
      weight?: number;
      maxConcurrent?: number;
    };
