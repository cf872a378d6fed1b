/**
 * Twenty concurrent requests of one session, each setting its own key: all twenty keys
 * survive, every time. The requests are held until all twenty have loaded the same
 * record, then released together, so every save but the first meets a concurrent write:
 * the overlap is certain, not a matter of timing. Repeated, on Redis, a 3-master Redis
 * Cluster and Memcached with one and two servers.
 */
import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { cookiePair } from '../helpers/cookies.js'
import { Holds, race, seed, storedData } from '../helpers/race.js'
import { ioDuring, memcachedBackend, memcachedPairBackend, redisBackend, redisClusterBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

const REQUESTS = 20
const ROUNDS = 5

for (const backend of backends) {
  t.test(`${backend.name}: ${REQUESTS} concurrent requests setting ${REQUESTS} keys, ${ROUNDS} times: every key survives every time`, async (t) => {
    for (let round = 1; round <= ROUNDS; round++) {
      const holds = new Holds()
      const { app } = await buildApp(t, backend.storage({ maxAge: 3600 }), (app) => { holds.routes(app) })
      const cookie = await seed(app, { user: 'ada' })
      const names = Array.from({ length: REQUESTS }, (_, index) => `request${index}`)
      const requests = Object.fromEntries(names.map((name, index) => [name, [['set', `key${index}`, index]] as const]))
      const [responses, io] = await ioDuring(backend, async () => await race(app, holds, cookie, requests, [names]))
      for (const name of names) {
        t.equal(responses[name]!.statusCode, 200, `round ${round}: ${name} saved`)
        t.equal(cookiePair(responses[name]!), cookie, `round ${round}: ${name} sent its id again`)
      }
      const expected = Object.fromEntries([['user', 'ada'], ...names.map((_, index) => [`key${index}`, index])])
      t.same(await storedData(backend, cookie), expected, `round ${round}: all ${REQUESTS} keys are in the record`)
      t.ok(io.writes > REQUESTS, `round ${round}: the saves met each other (${io.writes} writes for ${REQUESTS} requests)`)
    }
  })
}
