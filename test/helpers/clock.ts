import FakeTimers from '@sinonjs/fake-timers'
import type { Teardown } from './teardown.js'

export type Clock = FakeTimers.Clock

/**
 * Fakes only `Date` at `nowSeconds`: timers stay real, so Fastify, clients and servers
 * keep working while the storages read the faked time.
 */
function installFakeDate (nowSeconds: number): Clock {
  return FakeTimers.install({ now: nowSeconds * 1000, toFake: ['Date'] })
}

/**
 * Fakes `Date` at `nowSeconds` for the rest of the test, restored in teardown. Time
 * moves only when the test calls `clock.tick(ms)` or `clock.setSystemTime(ms)`.
 */
export function fakeDate (t: Teardown, nowSeconds: number): Clock {
  const clock = installFakeDate(nowSeconds)
  t.teardown(() => { clock.uninstall() })
  return clock
}

/**
 * Runs `action` with `Date` faked at `nowSeconds` and restores it as soon as `action`
 * settles: one request of a service that outlives the test believes it is then.
 */
export async function atFakeDate<T> (nowSeconds: number, action: () => Promise<T>): Promise<T> {
  const clock = installFakeDate(nowSeconds)
  try {
    return await action()
  } finally {
    clock.uninstall()
  }
}
