import FakeTimers from '@sinonjs/fake-timers'

export type Clock = FakeTimers.Clock

interface Teardown {
  teardown (fn: () => unknown): void
}

/**
 * Fakes only `Date` (timers stay real, so Fastify and servers work) at `nowSeconds`,
 * restored in teardown. Time moves only when the test calls `clock.tick(ms)` or
 * `clock.setSystemTime(ms)`.
 */
export function fakeDate (t: Teardown, nowSeconds: number): Clock {
  const clock = FakeTimers.install({ now: nowSeconds * 1000, toFake: ['Date'] })
  t.teardown(() => { clock.uninstall() })
  return clock
}
