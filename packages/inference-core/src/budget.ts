/** A USD spend limit over rolling windows. */
export interface Budget {
  /** Limit of spend over the last hour (USD); `undefined` = no hourly limit. */
  hourlyUsd?: number;
  /** Limit of spend over the last 24 hours (USD); `undefined` = no daily limit. */
  dailyUsd?: number;
  /**
   * What happens once a limit is reached:
   * `'reject'` → new requests fail with `budget_exceeded`; `'warn'` → a `budget_exceeded` event,
   * requests continue; `'throttle'` → allowed concurrency is halved while over budget (needs
   * `serving.maxConcurrent`).
   */
  onExceeded: 'reject' | 'warn' | 'throttle';
}
