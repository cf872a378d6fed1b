/**
 * Logout, login and regenerate win: once `invalidate()`, `newSession()` or `regenerate()`
 * has been saved for an id, no request that loaded that id before can write it again;
 * its change is dropped and its response carries no Set-Cookie. Both save orders, on
 * Redis, a 3-master Redis Cluster and Memcached with one and two servers.
 */
import t from 'tap'
import type { Test } from 'tap'
import { buildApp, sessionLines } from '../helpers/app.js'
import { cookiePair, cookieValue, setCookies } from '../helpers/cookies.js'
import { Holds, race, seed, storedData } from '../helpers/race.js'
import type { Operation } from '../helpers/race.js'
import { memcachedBackend, memcachedPairBackend, redisBackend, redisClusterBackend } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

const DELETION = /^AIOHTTP_SESSION=""; /

async function raceOn (t: Test, backend: StoreBackend, requests: Record<string, readonly Operation[]>, order: ReadonlyArray<string | readonly string[]>) {
  const holds = new Holds()
  const { app } = await buildApp(t, backend.storage({ maxAge: 3600 }), (app) => { holds.routes(app) })
  const cookie = await seed(app, { user: 'ada', role: 'reader' })
  const responses = await race(app, holds, cookie, requests, order)
  return { app, cookie, responses }
}

/** The debug line of a dropped save, among the lines that request logged. */
function droppedSave (response: Parameters<typeof sessionLines>[0]): unknown {
  return sessionLines(response).find((line) => line.msg.includes('its changes were not saved'))
}

for (const backend of backends) {
  t.test(`${backend.name}: a write that saves after a logout is dropped`, async (t) => {
    const { app, cookie, responses } = await raceOn(t, backend, { logout: [['invalidate']], write: [['set', 'cart', [1]]] }, ['logout', 'write'])
    t.match(setCookies(responses['logout']!), [DELETION], 'the logout clears the cookie')
    t.equal(await storedData(backend, cookie), null, 'the record stays deleted')
    t.equal(responses['write']!.statusCode, 200)
    t.same(setCookies(responses['write']!), [], 'the dropped write sends no Set-Cookie (neither the id nor a deletion)')
    t.match(droppedSave(responses['write']!), { level: 20, reason: /logged out or replaced/ }, 'and logs why at debug')
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { data: {}, identity: null }, 'the old cookie loads no session')
  })

  t.test(`${backend.name}: a logout that saves after a write still logs out`, async (t) => {
    const { cookie, responses } = await raceOn(t, backend, { logout: [['invalidate']], write: [['set', 'cart', [1]]] }, ['write', 'logout'])
    t.equal(cookiePair(responses['write']!), cookie, 'the write saved first, normally')
    t.match(setCookies(responses['logout']!), [DELETION])
    t.equal(await storedData(backend, cookie), null, 'the record is gone')
  })

  for (const [what, winner] of [['regenerate', [['regenerate', ['user']], ['set', 'role', 'admin']]], ['login', [['login', 'bob']]]] as const) {
    t.test(`${backend.name}: ${what} versus a write, in both orders`, async (t) => {
      const expected = what === 'login' ? { user: 'bob' } : { user: 'ada', role: 'admin' }
      for (const order of [['winner', 'write'], ['write', 'winner']] as const) {
        const { cookie, responses } = await raceOn(t, backend, { winner, write: [['set', 'cart', [1]]] }, order)
        const fresh = cookiePair(responses['winner']!)!
        t.not(fresh, cookie, `${order.join(' then ')}: a new id`)
        t.same(await storedData(backend, fresh), expected, 'the new record holds what the winner wrote')
        t.equal(await storedData(backend, cookie), null, 'the old record is gone')
        if (order[0] === 'winner') {
          t.same(setCookies(responses['write']!), [], 'the write saved afterwards is dropped, without a Set-Cookie')
          t.ok(droppedSave(responses['write']!))
        }
      }
    })
  }

  t.test(`${backend.name}: two concurrent logins each get their own new session`, async (t) => {
    const { cookie, responses } = await raceOn(t, backend, { first: [['login', 'bob']], second: [['login', 'eve']] }, ['first', 'second'])
    const [first, second] = [cookieValue(responses['first']!), cookieValue(responses['second']!)]
    t.not(first, second)
    t.same(await storedData(backend, `AIOHTTP_SESSION=${first}`), { user: 'bob' })
    t.same(await storedData(backend, `AIOHTTP_SESSION=${second}`), { user: 'eve' })
    t.equal(await storedData(backend, cookie), null, 'the session both started from is gone')
  })

  t.test(`${backend.name}: a logout racing ten writes that all loaded before it: none of them undoes it`, async (t) => {
    const writes = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`write${index}`, [['set', `key${index}`, index]] as const]))
    // The logout saves first; the ten writes are then released together and save concurrently.
    const { app, cookie, responses } = await raceOn(t, backend, { logout: [['invalidate']], ...writes }, ['logout', Object.keys(writes)])
    t.match(setCookies(responses['logout']!), [DELETION])
    for (const name of Object.keys(writes)) {
      t.equal(responses[name]!.statusCode, 200, name)
      t.same(setCookies(responses[name]!), [], `${name}: no Set-Cookie`)
    }
    t.equal(await storedData(backend, cookie), null, 'the record stays deleted')
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { data: {}, identity: null }, 'the logged-out cookie loads nothing')
  })

  t.test(`${backend.name}: a logout saved while ten writes save: each write lands before it or is dropped`, async (t) => {
    const writes = Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`write${index}`, [['set', `key${index}`, index]] as const]))
    const { cookie, responses } = await raceOn(t, backend, { logout: [['invalidate']], ...writes }, [['logout', ...Object.keys(writes)]])
    t.match(setCookies(responses['logout']!), [DELETION])
    t.equal(await storedData(backend, cookie), null, 'whatever the interleaving, the record ends deleted')
  })
}
