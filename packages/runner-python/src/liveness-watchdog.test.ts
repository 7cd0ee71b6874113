/** LivenessWatchdog on a fake clock: when it trips, and when it must not. */
import { FakeClock } from '@inferkit/inference-core';
import { describe, expect, test } from 'vitest';
import { LivenessWatchdog, type LivenessTarget } from './liveness-watchdog.js';
import type { LivenessFrame } from './protocol.js';

function setup(): { clock: FakeClock; dog: LivenessWatchdog; pings: LivenessFrame[]; trips: string[]; frame: { pending: number; received: number } } {
  const clock = new FakeClock();
  const pings: LivenessFrame[] = [];
  const trips: string[] = [];
  const frame = { pending: 0, received: 0 };
  const target: LivenessTarget = {
    ping: (f) => pings.push(f),
    pendingFrameBytes: () => frame.pending,
    frameBytesReceived: () => frame.received,
    trip: (reason) => trips.push(reason),
  };
  const dog = new LivenessWatchdog(clock, 100, 1_000, target);
  return { clock, dog, pings, trips, frame };
}

/** Advances in ticks, answering each ping `lagMs` late (or not at all with `null`). */
function run(s: ReturnType<typeof setup>, ms: number, lagMs: number | null): void {
  for (let t = 0; t < ms; t += 100) {
    s.clock.advance(100);
    const last = s.pings.at(-1);
    if (last !== undefined && lagMs !== null) s.dog.alive({ type: 'alive', nonce: last.nonce, loopLagMs: lagMs });
  }
}

describe('LivenessWatchdog', () => {
  test('pings every interval with the deadline, and stays quiet while answers come', () => {
    const s = setup();
    s.dog.start();
    run(s, 5_000, 0);
    expect(s.trips).toEqual([]);
    expect(s.pings.length).toBeGreaterThanOrEqual(50);
    expect(s.pings[0]).toEqual({ type: 'liveness', nonce: 1, deadlineMs: 1_000 });
  });

  test('no answers for longer than the deadline trips once', () => {
    const s = setup();
    s.dog.start();
    run(s, 500, 0);
    run(s, 1_200, null);
    expect(s.trips).toHaveLength(1);
    expect(s.trips[0]).toMatch(/did not answer liveness pings for 1\d{3} ms/);
    run(s, 2_000, null); // stopped after tripping
    expect(s.trips).toHaveLength(1);
  });

  test('answers that report a blocked event loop trip once the lag passes the deadline', () => {
    const s = setup();
    s.dog.start();
    run(s, 300, 900);
    expect(s.trips).toEqual([]);
    run(s, 200, 1_100);
    expect(s.trips).toHaveLength(1);
    expect(s.trips[0]).toMatch(/event loop blocked for 1100 ms/);
  });

  test('a partial frame trips only when no byte arrives for longer than the deadline', () => {
    const s = setup();
    s.dog.start();
    s.frame.pending = 10;
    for (let i = 0; i < 30; i++) {
      s.frame.received += 7; // a big frame still arriving
      run(s, 100, 0);
    }
    expect(s.trips).toEqual([]);
    run(s, 1_300, 0); // stuck: nothing more arrives
    expect(s.trips).toHaveLength(1);
    expect(s.trips[0]).toMatch(/stopped writing in the middle of a frame \(10 bytes held for 1\d{3} ms\)/);
  });

  test('a tick that fires late (the host was blocked) does not blame the worker', () => {
    // A clock whose timer fires only when told to, after time has jumped: the host's own event
    // loop was blocked for 5 s, so no answer could be read meanwhile.
    let now = 0;
    let due: (() => void) | null = null;
    const clock = { now: () => now, setTimeout: (cb: () => void) => ((due = cb), 1), clearTimeout: () => {} };
    const trips: string[] = [];
    let pings = 0;
    const dog = new LivenessWatchdog(clock, 100, 1_000, {
      ping: () => pings++,
      pendingFrameBytes: () => 0,
      frameBytesReceived: () => 0,
      trip: (reason) => trips.push(reason),
    });
    dog.start();
    now += 5_000;
    due!();
    expect(trips).toEqual([]);
    expect(pings).toBe(2); // measuring again from now
    now += 100;
    due!();
    expect(trips).toEqual([]);
  });

  test('stop() ends the pings', () => {
    const s = setup();
    s.dog.start();
    s.dog.stop();
    const sent = s.pings.length;
    s.clock.advance(10_000);
    expect([s.pings.length, s.trips]).toEqual([sent, []]);
  });
});
