/**
 * Twenty concurrent requests of one session, each setting its own key, spread over four
 * apps (as over four server processes): all twenty keys survive, every time. The requests
 * are held until all twenty have loaded the same record, then released together. Within
 * one app the saves of a record go in turn; between apps they meet: every app's first
 * save compares against the record all of them loaded, and only one can win, so the
 * overlap is certain, not a matter of timing. Repeated, on Redis, a 3-master Redis
 * Cluster and Memcached with one and two servers.
 */
import t from 'tap'
import { buildApp } from '../helpers/app.js'
import { cookiePair } from '../helpers/cookies.js'
import { Holds, seed, storedData } from '../helpers/race.js'
import { ioDuring, memcachedBackend, memcachedPairBackend, redisBackend, redisClusterBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

const REQUESTS = 20
const APPS = 4
const ROUNDS = 5

for (const backend of backends) {
  t.test(`${backend.name}: ${REQUESTS} concurrent requests over ${APPS} apps setting ${REQUESTS} keys, ${ROUNDS} times: every key survives every time`, async (t) => {
    for (let round = 1; round <= ROUNDS; round++) {
      const holds = new Holds()
      const apps = await Promise.all(Array.from({ length: APPS }, async () =>
        (await buildApp(t, backend.storage({ maxAge: 3600 }), (app) => { holds.routes(app) })).app))
      const cookie = await seed(apps[0]!, { user: 'ada' })
      const names = Array.from({ length: REQUESTS }, (_, index) => `request${index}`)
      const inFlight = names.map((name, index) => apps[index % APPS]!.inject({
        method: 'POST', url: `/hold/${name}`, headers: { cookie }, payload: [['set', `key${index}`, index]]
      }))
      await Promise.all(names.map(async (name) => { await holds.reached(name) }))
      const [responses, io] = await ioDuring(backend, async () => {
        for (const name of names) holds.release(name)
        return await Promise.all(inFlight)
      })
      for (const [index, response] of responses.entries()) {
        t.equal(response.statusCode, 200, `round ${round}: request${index} saved`)
        t.equal(cookiePair(response), cookie, `round ${round}: request${index} sent its id again`)
      }
      const expected = Object.fromEntries([['user', 'ada'], ...names.map((_, index) => [`key${index}`, index])])
      t.same(await storedData(backend, cookie), expected, `round ${round}: all ${REQUESTS} keys are in the record`)
      t.ok(io.writes > REQUESTS, `round ${round}: the apps' saves met each other (${io.writes} writes for ${REQUESTS} requests)`)
    }
  })
}
