import { describe, expect, it } from 'vitest';
import { ArrivalClock } from '../../src/gateway/arrival-clock.js';

describe('ArrivalClock', () => {
  it('finds the message that carried a stream time', () => {
    const clock = new ArrivalClock();
    expect(clock.arrivalOf(0.1)).toBeNull();
    clock.record(0.5, 1000);
    clock.record(0.5, 1500);
    clock.record(0, 1700);
    clock.record(0.5, 2000);
    expect(clock.arrivalOf(0.2)).toBe(1000);
    expect(clock.arrivalOf(0.5)).toBe(1000);
    expect(clock.arrivalOf(0.51)).toBe(1500);
    expect(clock.arrivalOf(1.2)).toBe(2000);
    expect(clock.arrivalOf(1.52)).toBe(2000);
  });

  it('forgets marks before a point but keeps the one holding it', () => {
    const clock = new ArrivalClock();
    for (let i = 0; i < 10; i++) clock.record(0.1, i * 100);
    clock.forgetBefore(0.55);
    expect(clock.arrivalOf(0.55)).toBe(500);
    expect(clock.arrivalOf(0.95)).toBe(900);
    expect(clock.arrivalOf(0.1)).toBe(500);
  });
});
