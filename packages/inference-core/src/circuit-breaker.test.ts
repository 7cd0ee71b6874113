import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type CircuitTransition } from './circuit-breaker.js';
import { FakeClock } from './clock.js';
import { InferenceError } from './inference-error.js';

const fail = new InferenceError('server_error', '503');
const neutral = new InferenceError('rate_limited', '429');

function setup(extra: { halfOpenMaxProbes?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const events: CircuitTransition[] = [];
  const breaker = new CircuitBreaker(
    { failureThreshold: 3, windowMs: 10_000, openDurationMs: 1000, maxOpenDurationMs: 4000, halfOpenMaxProbes: 2, ...extra },
    { clock, name: 'b1', onTransition: (t) => events.push(t) },
  );
  const failN = (n: number) => {
    for (let i = 0; i < n; i++) breaker.acquire().record(fail);
  };
  const expectOpen = () => {
    try {
      breaker.acquire();
    } catch (e) {
      expect(InferenceError.isInstance(e)).toBe(true);
      return e as InferenceError<'circuit_open'>;
    }
    throw new Error('expected circuit_open');
  };
  return { clock, events, breaker, failN, expectOpen };
}

describe('CircuitBreaker', () => {
  it('stays closed when failures fall outside the rolling window', () => {
    const { clock, breaker, failN, events } = setup();
    failN(2);
    clock.advance(10_001);
    failN(2);
    expect(breaker.state).toBe('closed');
    expect(events).toEqual([]);
  });

  it('ignores errors that do not count as circuit failures (429, content filter, budget, cancel)', () => {
    const { breaker } = setup();
    for (const k of ['rate_limited', 'content_filtered', 'budget_exceeded', 'cancelled', 'bad_request'] as const) {
      for (let i = 0; i < 5; i++) breaker.acquire().record(new InferenceError(k, k));
    }
    expect(breaker.state).toBe('closed');
  });

  it('closed → open after failureThreshold failures; circuit_open carries openedAtMs/retryAtMs', () => {
    const { clock, breaker, failN, events, expectOpen } = setup();
    failN(3);
    expect(breaker.state).toBe('open');
    expect(events).toEqual([{ breaker: 'b1', from: 'closed', to: 'open', atMs: 1_000_000, openedAtMs: 1_000_000, retryAtMs: 1_001_000, failures: 3 }]);
    clock.advance(400);
    const err = expectOpen();
    expect(err.kind).toBe('circuit_open');
    expect(err.details).toEqual({ openedAtMs: 1_000_000, retryAtMs: 1_001_000, breaker: 'b1' });
    expect(err.retryable).toBe(false);
    expect(err.countsAsCircuitFailure).toBe(false);
  });

  it('open → half-open after openDurationMs, with at most halfOpenMaxProbes concurrent probes', () => {
    const { clock, breaker, failN, events, expectOpen } = setup();
    failN(3);
    clock.advance(999);
    expect(breaker.state).toBe('open');
    clock.advance(1);
    expect(breaker.state).toBe('half_open');
    expect(events.at(-1)).toMatchObject({ from: 'open', to: 'half_open', atMs: 1_001_000, openedAtMs: 1_000_000 });
    const p1 = breaker.acquire();
    const p2 = breaker.acquire();
    expect(p1.probe && p2.probe).toBe(true);
    expect(breaker.probes).toBe(2);
    const limited = expectOpen(); // third concurrent probe refused
    expect(limited.message).toContain('probe');
    p1.record(neutral); // neutral outcome frees the slot, state unchanged
    expect(breaker.state).toBe('half_open');
    const p3 = breaker.acquire();
    expect(p3.probe).toBe(true);
    expectOpen();
  });

  it('a failed probe re-opens with a doubled open duration, capped', () => {
    const { clock, breaker, failN, events } = setup();
    failN(3);
    const durations: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(100_000);
      expect(breaker.state).toBe('half_open');
      breaker.acquire().record(fail);
      const opened = events.at(-1)!;
      expect(opened).toMatchObject({ from: 'half_open', to: 'open' });
      durations.push(opened.retryAtMs! - opened.openedAtMs!);
    }
    expect(durations).toEqual([2000, 4000, 4000, 4000]);
  });

  it('a successful probe closes and resets the open duration; stale probe outcomes are ignored', () => {
    const { clock, breaker, failN, events } = setup();
    failN(3);
    clock.advance(1000);
    breaker.acquire().record(fail); // re-open, 2000 ms
    clock.advance(2000);
    const a = breaker.acquire();
    const b = breaker.acquire();
    a.record();
    expect(breaker.state).toBe('closed');
    expect(events.at(-1)).toMatchObject({ from: 'half_open', to: 'closed' });
    b.record(fail); // outcome of a probe from the previous half-open period: ignored
    expect(breaker.state).toBe('closed');
    failN(3);
    const reopened = events.at(-1)!;
    expect(reopened.retryAtMs! - reopened.openedAtMs!).toBe(1000);
    expect(events.map((e) => `${e.from}>${e.to}`)).toEqual([
      'closed>open',
      'open>half_open',
      'half_open>open',
      'open>half_open',
      'half_open>closed',
      'closed>open',
    ]);
  });

  it('record() is idempotent', () => {
    const { breaker } = setup();
    const t = breaker.acquire();
    t.record(fail);
    t.record(fail);
    t.record(fail);
    breaker.acquire().record(fail);
    expect(breaker.state).toBe('closed');
  });
});
