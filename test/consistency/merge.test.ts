/**
 * Concurrent requests of one session that change its keys: every change survives, and
 * for one key the request that saves last wins, whole. Each case holds the requests
 * between their load and their save and releases them in a chosen order (test/helpers/
 * race.ts), on Redis, a 3-master Redis Cluster and Memcached with one and two servers.
 */
import t from 'tap'
import type { Test } from 'tap'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { Holds, race, seed, storedData } from '../helpers/race.js'
import type { Operation } from '../helpers/race.js'
import { memcachedBackend, memcachedPairBackend, redisBackend, redisClusterBackend } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'

// Every server starts before the first test is declared (tap ends a run whose queue empties).
const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

const BOTH_ORDERS = [['a', 'b'], ['b', 'a']] as const

async function raceOn (t: Test, backend: StoreBackend, initial: Record<string, unknown>,
  requests: { a: readonly Operation[], b: readonly Operation[] }, order: readonly string[]) {
  const holds = new Holds()
  const { app } = await buildApp(t, backend.storage({ maxAge: 3600 }), (app) => { holds.routes(app) })
  const cookie = await seed(app, initial)
  const responses = await race(app, holds, cookie, requests, order)
  return { cookie, responses, stored: await storedData(backend, cookie) }
}

for (const backend of backends) {
  t.test(`${backend.name}: different keys set concurrently all survive, whichever saves first`, async (t) => {
    for (const order of BOTH_ORDERS) {
      const { cookie, responses, stored } = await raceOn(t, backend, { user: 'ada' }, { a: [['set', 'theme', 'dark']], b: [['set', 'cart', [1]]] }, order)
      t.same(stored, { user: 'ada', theme: 'dark', cart: [1] }, `saved ${order.join(' then ')}: both keys are in the record`)
      for (const response of Object.values(responses)) {
        t.equal(response.statusCode, 200)
        t.equal(cookiePair(response), cookie, 'each response sends the same id again')
      }
    }
  })

  t.test(`${backend.name}: different keys deleted concurrently both go`, async (t) => {
    for (const order of BOTH_ORDERS) {
      const { stored } = await raceOn(t, backend, { x: 1, y: 2, z: 3 }, { a: [['delete', 'x']], b: [['delete', 'y']] }, order)
      t.same(stored, { z: 3 }, `saved ${order.join(' then ')}`)
    }
  })

  t.test(`${backend.name}: a set and a delete of another key both hold`, async (t) => {
    for (const order of BOTH_ORDERS) {
      const { stored } = await raceOn(t, backend, { x: 1 }, { a: [['set', 'y', 2]], b: [['delete', 'x']] }, order)
      t.same(stored, { y: 2 }, `saved ${order.join(' then ')}`)
    }
  })

  t.test(`${backend.name}: the same key set concurrently: the later save wins, whole`, async (t) => {
    const requests = { a: [['set', 'prefs', { lang: 'fr' }]], b: [['set', 'prefs', { tz: 'UTC' }]] } as const
    const first = await raceOn(t, backend, { prefs: { lang: 'en', tz: 'CET' } }, requests, ['a', 'b'])
    t.same(first.stored, { prefs: { tz: 'UTC' } }, 'b saved last: its value, not a deep merge')
    const second = await raceOn(t, backend, { prefs: { lang: 'en', tz: 'CET' } }, requests, ['b', 'a'])
    t.same(second.stored, { prefs: { lang: 'fr' } }, 'a saved last: its value')
  })

  t.test(`${backend.name}: a value edited in place (changed()) and another key set concurrently`, async (t) => {
    for (const order of BOTH_ORDERS) {
      const { stored } = await raceOn(t, backend, { cart: [1], visits: 0 }, { a: [['push', 'cart', 2]], b: [['set', 'visits', 1]] }, order)
      t.same(stored, { cart: [1, 2], visits: 1 }, `saved ${order.join(' then ')}: the edit and the set`)
    }
  })

  t.test(`${backend.name}: a key set concurrently with clear() of what was loaded survives`, async (t) => {
    const { stored, responses } = await raceOn(t, backend, { x: 1 }, { a: [['set', 'late', true]], b: [['clear']] }, ['a', 'b'])
    t.same(stored, { late: true }, 'clear() removes the keys it saw, not the one added meanwhile')
    t.equal(setCookies(responses['b']!).length, 1)
  })
}
