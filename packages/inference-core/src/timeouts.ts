/**
 * Deadlines for one request (ms). `undefined` = no deadline of that kind. Remote runners apply
 * `connectMs`, `firstByteMs` and `idleMs` on the wire; `supervise` applies `firstChunkMs` and
 * `totalMs` around any runner. Exceeding one fails with `InferenceError` kind `timeout`.
 */
export interface Timeouts {
  /** Establishing the connection (remote runners). */
  connectMs?: number;
  /** Until the first response byte arrives (remote runners). */
  firstByteMs?: number;
  /** Longest silence between two received pieces of data (remote runners). */
  idleMs?: number;
  /** Until the first chunk reaches the caller, retries included (`supervise`). */
  firstChunkMs?: number;
  /** Whole request, from `execute` to the last chunk (`supervise`). */
  totalMs?: number;
}
