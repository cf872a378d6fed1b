/**
 * The options every server-side storage takes (timeout, keyFactory, cookieName,
 * maxRecordBytes, circuitBreaker) are checked at construction.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import t from 'tap'
import { SessionConfigError } from '../../index.js'
import { storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

for (const backend of backends) {
  t.test(`${backend.name}: options are validated at construction`, async (t) => {
    t.throws(() => backend.storage({ timeout: 0 }), SessionConfigError)
    t.throws(() => backend.storage({ timeout: 1.5 }), { message: /timeout must be a whole number of milliseconds from 1 to 2147483647; got 1.5/ })
    t.throws(() => backend.storage({ timeout: 2 ** 31 }), SessionConfigError)
    t.throws(() => backend.storage({ timeout: '100' as unknown as number }), { message: /got a string of 3 characters/ })
    t.throws(() => backend.storage({ keyFactory: 'uuid' as unknown as () => string }), { message: /keyFactory must be a function/ })
    t.throws(() => backend.storage({ cookieName: 'x'.repeat(250) }), { message: /cookieName is too long for .*Storage: record keys/ })
    const storage = backend.storage({ timeout: 250, cookieName: 'sid' })
    t.equal(storage.timeout, 250)
    t.equal(storage.recordKey('abc'), 'sid_abc')
    t.equal(backend.storage().timeout, 1000, 'the default bound is one second')
  })

  t.test(`${backend.name}: maxRecordBytes and circuitBreaker are validated at construction`, async (t) => {
    t.throws(() => backend.storage({ maxRecordBytes: 0 }), { message: /maxRecordBytes must be a whole number of bytes from 1 to 536870912; got 0/ })
    t.throws(() => backend.storage({ maxRecordBytes: 2 ** 29 + 1 }), SessionConfigError, 'over Redis\'s largest string')
    t.throws(() => backend.storage({ maxRecordBytes: 1e3 + 0.5 }), SessionConfigError)
    t.throws(() => backend.storage({ maxRecordBytes: '1mb' as unknown as number }), { message: /got a string of 3 characters/ })
    t.ok(backend.storage({ maxRecordBytes: 2 ** 29 }), 'up to 512 MiB')

    const invalid: Array<[unknown, RegExp]> = [
      [null, /circuitBreaker must be false, true or \{ failureThreshold, coolDown \}; got null/],
      ['on', /circuitBreaker must be false, true or \{ failureThreshold, coolDown \}; got a string of 2 characters/],
      [[5, 5000], /got an array/],
      [{ threshold: 3 }, /circuitBreaker takes failureThreshold and coolDown; got an unknown setting "threshold"/],
      [{ failureThreshold: 0 }, /circuitBreaker.failureThreshold must be a whole number of at least 1; got 0/],
      [{ failureThreshold: 2.5 }, /circuitBreaker.failureThreshold must be a whole number of at least 1; got 2.5/],
      [{ coolDown: 0 }, /circuitBreaker.coolDown must be a whole number of milliseconds from 1 to 2147483647; got 0/],
      [{ coolDown: 2 ** 31 }, /circuitBreaker.coolDown must be/],
      [{ coolDown: '5s' }, /circuitBreaker.coolDown must be .*; got a string of 2 characters/]
    ]
    for (const [circuitBreaker, message] of invalid) {
      t.throws(() => backend.storage({ circuitBreaker: circuitBreaker as false }), { name: 'SessionConfigError', message })
    }
    for (const circuitBreaker of [false, true, {}, { failureThreshold: 1 }, { coolDown: 1 }, { failureThreshold: 10, coolDown: 60000 }, undefined]) {
      t.ok(backend.storage({ circuitBreaker }), `circuitBreaker: ${JSON.stringify(circuitBreaker)}`)
    }
  })
}
