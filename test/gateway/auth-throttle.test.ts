import { describe, expect, it } from 'vitest';
import { FailedAuthThrottle } from '../../src/gateway/auth-throttle.js';

describe('FailedAuthThrottle', () => {
  it('lets an address fail maxFailures times in the window, then says how long to wait', () => {
    const throttle = new FailedAuthThrottle({ maxFailures: 3, windowMs: 60_000 });
    for (const at of [0, 1000, 2000]) {
      expect(throttle.retryAfterS('10.0.0.1', at)).toBe(0);
      throttle.recordFailure('10.0.0.1', at);
    }
    // The first failure leaves the window at 60 s.
    expect(throttle.retryAfterS('10.0.0.1', 2500)).toBe(58);
    expect(throttle.retryAfterS('10.0.0.2', 2500)).toBe(0);
    expect(throttle.retryAfterS('10.0.0.1', 60_001)).toBe(0);
  });

  it('forgets failures older than the window', () => {
    const throttle = new FailedAuthThrottle({ maxFailures: 2, windowMs: 1000 });
    throttle.recordFailure('a', 0);
    throttle.recordFailure('a', 1500);
    expect(throttle.retryAfterS('a', 1600)).toBe(0);
    throttle.recordFailure('a', 1700);
    expect(throttle.retryAfterS('a', 1800)).toBe(1);
  });
});
