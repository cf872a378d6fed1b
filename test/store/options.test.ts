/**
 * The options every server-side storage takes (timeout, keyFactory, cookieName) are
 * checked at construction.
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
}
