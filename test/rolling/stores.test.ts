/**
 * Rolling sessions on Redis, a 3-master Redis Cluster and Memcached with one and two
 * servers, with a faked clock: a session read after `refreshAfter` seconds is written
 * again through the same compare-and-set as a change (created = now, TTL = maxAge, the
 * same id re-sent); a younger one costs no write; concurrent refreshes make one write
 * between them; a refresh never revives a session logged out, regenerated or expired,
 * and never undoes a concurrent change. Writes are counted by the servers themselves.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import type { Session, StoreStorageOptions } from '../../index.js'
import { formatExpires } from '../../lib/wire/cookie.js'
import { buildApp, sessionLines } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { MemoryStorage } from '../helpers/memory-storage.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { Holds, race, recordKeyOfPair, seed, storedData } from '../helpers/race.js'
import type { Operation } from '../helpers/race.js'
import { ioDuring, memcachedBackend, memcachedPairBackend, redisBackend, redisClusterBackend } from '../helpers/stores.js'
import type { IoCounts, StoreBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

// Real time (the servers' TTLs run on it), so a record the storage keeps for maxAge
// outlives the test whatever the faked clock says.
const T0 = Math.floor(Date.now() / 1000)
const MAX_AGE = 1000
const REFRESH_AFTER = 100
const ROLLING: StoreStorageOptions = { maxAge: MAX_AGE, rolling: { refreshAfter: REFRESH_AFTER } }
const OLD = REFRESH_AFTER + 1
const ONE_READ: IoCounts = { reads: 1, writes: 0, deletes: 0 }

function extraRoutes (app: FastifyInstance): void {
  app.get('/untouched', async () => 'ok')
  // request.saveSession() saves changes only; the refresh is the response's (onSend).
  app.get('/save-unchanged', async (request) => {
    await request.saveSession()
    return 'ok'
  })
  app.get('/save-change', async (request) => {
    request.session.set('seen', true)
    await request.saveSession()
    return 'ok'
  })
  app.get('/health', { config: { session: false } }, async () => 'ok')
  app.get('/boom', async (request) => {
    request.session.get('user')
    throw new Error('boom')
  })
}

async function setUp (t: Test, backend: StoreBackend, options: StoreStorageOptions = ROLLING) {
  const clock = fakeDate(t, T0)
  const holds = new Holds()
  const { app } = await buildApp(t, backend.storage(options), (app) => {
    holds.routes(app)
    extraRoutes(app)
  })
  const cookie = await seed(app, { user: 'ada', role: 'reader' })
  const key = recordKeyOfPair(cookie)
  /** Moves the clock to T0 + `at` seconds. */
  const at = (seconds: number): void => { clock.setSystemTime((T0 + seconds) * 1000) }
  /** GET `url` with the session cookie (null: none), with what it cost in commands sent and records written. */
  const get = async (url: string, sent: string | null = cookie) => {
    const written = await backend.storedWrites()
    const [response, io] = await ioDuring(backend, async () => await app.inject({ url, headers: sent === null ? {} : { cookie: sent } }))
    return { response, io, stored: await backend.storedWrites() - written }
  }
  const record = async () => {
    const raw = await backend.rawGet(key)
    return raw === null ? null : JSON.parse(raw.toString('utf8')) as { created: number, session: Record<string, unknown> }
  }
  return { app, holds, cookie, key, at, get, record }
}

/** The debug line of a refresh dropped because a concurrent request made the record young again. */
function droppedRefresh (response: LightMyRequestResponse): unknown {
  return sessionLines(response).find((line) => line.msg.includes('this refresh was dropped'))
}

for (const backend of backends) {
  t.test(`${backend.name}: without rolling, a read-only request never writes, at any age`, async (t) => {
    const { at, get } = await setUp(t, backend, { maxAge: MAX_AGE })
    for (const age of [0, OLD, MAX_AGE]) {
      at(age)
      const { response, io, stored } = await get('/read')
      t.same([setCookies(response), io, stored], [[], ONE_READ, 0], `at ${age} s: one read, no write, no Set-Cookie`)
    }
  })

  t.test(`${backend.name}: a session no older than refreshAfter costs nothing: one read, no write, no Set-Cookie`, async (t) => {
    const { at, get } = await setUp(t, backend)
    for (const age of [1, REFRESH_AFTER]) {
      at(age)
      for (const url of ['/read', '/untouched']) {
        const { response, io, stored } = await get(url)
        t.same([setCookies(response), io, stored], [[], ONE_READ, 0], `${url} at ${age} s`)
      }
    }
  })

  t.test(`${backend.name}: an older session is written once: created = now, TTL = maxAge, the same id with a new expiry`, async (t) => {
    const { at, get, record, cookie, key } = await setUp(t, backend)
    const before = await record()
    t.equal(before?.created, T0)
    at(OLD)
    const { response, io, stored } = await get('/read')
    t.same(response.json(), { data: { user: 'ada', role: 'reader' }, identity: cookie.slice(cookie.indexOf('=') + 1) })
    t.same(io, { reads: 1, writes: 1, deletes: 0 }, 'one read, one compare-and-set')
    t.equal(stored, 1, 'one record written')
    t.same(setCookies(response), [`${cookie}; expires=${formatExpires(T0 + OLD + MAX_AGE)}; HttpOnly; Max-Age=${MAX_AGE}; Path=/; SameSite=Lax`], 'the same id, a new expiry')
    t.same(await record(), { created: T0 + OLD, session: { user: 'ada', role: 'reader' } }, 'created is now, the data untouched')
    const ttl = await backend.ttl(key)
    t.ok(ttl !== null && ttl > MAX_AGE - 10 && ttl <= MAX_AGE, `the server keeps it maxAge seconds again (${ttl})`)

    at(OLD + REFRESH_AFTER)
    t.same((await get('/read')).stored, 0, 'young again: no write')
    at(MAX_AGE + 50)
    const late = await get('/read')
    t.same(late.response.json().data, { user: 'ada', role: 'reader' }, 'it outlives the old expiry')
    t.equal(late.stored, 1, 'and, old again, is refreshed again')
    at(2 * MAX_AGE)
    t.equal((await get('/untouched')).stored, 1, 'a route that never touches the session refreshes too (it was loaded in onRequest)')
  })

  t.test(`${backend.name}: request.saveSession() saves changes only: an old unchanged session is refreshed once, by the response`, async (t) => {
    const { at, get, record, cookie } = await setUp(t, backend)
    at(OLD)
    const unchanged = await get('/save-unchanged')
    t.same([unchanged.stored, setCookies(unchanged.response).length], [1, 1], 'one write, one Set-Cookie: the refresh in onSend')
    t.equal((await record())?.created, T0 + OLD)
    at(2 * OLD)
    const changed = await get('/save-change')
    t.same([changed.stored, setCookies(changed.response).length], [1, 1], 'a change saved by saveSession() makes the session young: no second write for a refresh')
    t.equal(cookiePair(changed.response), cookie)
    t.same(await record(), { created: T0 + 2 * OLD, session: { user: 'ada', role: 'reader', seen: true } })
  })

  t.test(`${backend.name}: never refreshed: an expired session, an anonymous request, an opted-out route, an uncaught error`, async (t) => {
    const { at, get, record } = await setUp(t, backend)
    at(OLD)
    for (const [url, sent] of [['/read', null], ['/untouched', null], ['/health', undefined], ['/boom', undefined]] as const) {
      const { response, stored } = await get(url, sent)
      t.same([setCookies(response), stored], [[], 0], `${url}${sent === null ? ' without a cookie' : ''}: no write, no Set-Cookie`)
    }
    at(MAX_AGE + 1)
    const expired = await get('/read')
    t.same(expired.response.json(), { data: {}, identity: null }, 'past maxAge the session is gone')
    t.same([setCookies(expired.response), expired.stored], [[], 0], 'and not revived')
    t.equal((await record())?.created, T0, 'its record was left as it was')
  })

  t.test(`${backend.name}: ten concurrent requests that all read an old session make one write between them`, async (t) => {
    const { app, holds, at, record, cookie } = await setUp(t, backend)
    at(OLD)
    const names = Array.from({ length: 10 }, (_, index) => `reader${index}`)
    const requests = Object.fromEntries(names.map((name) => [name, [] as Operation[]]))
    const written = await backend.storedWrites()
    // All ten have loaded the old record before any is released; then they save together.
    const responses = await race(app, holds, cookie, requests, [names])
    t.equal(await backend.storedWrites() - written, 1, 'exactly one record written')
    const refreshed = names.filter((name) => setCookies(responses[name]!).length > 0)
    t.equal(refreshed.length, 1, 'one response carries the refreshed cookie')
    t.equal(cookiePair(responses[refreshed[0]!]!), cookie, 'with the same id')
    for (const name of names.filter((name) => name !== refreshed[0])) {
      t.equal(responses[name]!.statusCode, 200)
      t.ok(droppedRefresh(responses[name]!), `${name}: saw the fresh record and dropped its refresh, without a Set-Cookie`)
    }
    t.equal((await record())?.created, T0 + OLD)
  })

  for (const [what, winner] of [['a logout', [['invalidate']]], ['a regenerate', [['regenerate', ['user']]]], ['a login', [['login', 'bob']]]] as const) {
    t.test(`${backend.name}: a refresh racing ${what}, in both orders: nothing revived, no Set-Cookie for the old id after it`, async (t) => {
      for (const order of [['winner', 'refresh'], ['refresh', 'winner']] as const) {
        await t.test(order.join(' then '), async (t) => {
          const { app, holds, at, cookie } = await setUp(t, backend)
          at(OLD)
          const responses = await race(app, holds, cookie, { winner, refresh: [] }, order)
          t.equal(await storedData(backend, cookie), null, `${order.join(' then ')}: the old record is gone`)
          if (order[0] === 'winner') t.same(setCookies(responses['refresh']!), [], 'the refresh saved after it is dropped without a Set-Cookie')
          else t.equal(cookiePair(responses['refresh']!), cookie, 'the refresh saved before it went through')
          t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { data: {}, identity: null }, 'the old cookie loads nothing')
        })
      }
    })
  }

  t.test(`${backend.name}: a refresh racing a write to another key, in both orders: both survive`, async (t) => {
    for (const order of [['write', 'refresh'], ['refresh', 'write']] as const) {
      await t.test(order.join(' then '), async (t) => {
        const { app, holds, at, cookie, record } = await setUp(t, backend)
        at(OLD)
        const responses = await race(app, holds, cookie, { write: [['set', 'cart', [1]]], refresh: [] }, order)
        t.same(await record(), { created: T0 + OLD, session: { user: 'ada', role: 'reader', cart: [1] } }, `${order.join(' then ')}: the key and the fresh created`)
        t.equal(cookiePair(responses['write']!), cookie)
        if (order[0] === 'write') t.ok(droppedRefresh(responses['refresh']!), 'the write made the record young: the refresh had nothing left to do')
        else t.equal(cookiePair(responses['refresh']!), cookie)
      })
    }
  })

  t.test(`${backend.name}: a refresh after a concurrent in-place edit (which leaves created old) still refreshes, keeping the edit`, async (t) => {
    const { app, holds, at, cookie, record } = await setUp(t, backend)
    await app.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [] } })
    at(OLD)
    const responses = await race(app, holds, cookie, { edit: [['push', 'cart', 1]], refresh: [] }, ['edit', 'refresh'])
    t.equal(cookiePair(responses['refresh']!), cookie, 'the record was still old: the refresh went through')
    t.same(await record(), { created: T0 + OLD, session: { user: 'ada', role: 'reader', cart: [1] } })
  })
}

for (const backend of backends.filter((backend) => backend.name.startsWith('Memcached'))) {
  t.test(`${backend.name}: maxAge above 30 days: the refresh writes an absolute exptime`, async (t) => {
    // Date runs 1000 s ahead of the server's clock: an absolute exptime computed from it
    // shows up as 1000 s more on the server. A relative one above 30 days would be read
    // as a unix time in 1970, and the record would be gone at once.
    const offset = 1000
    const maxAge = 40 * 24 * 3600
    const { at, get, key } = await setUp(t, backend, { maxAge, rolling: { refreshAfter: 3600 } })
    at(offset)
    t.equal((await get('/read')).stored, 0)
    at(offset + 3601)
    const { response, stored } = await get('/read')
    t.equal(stored, 1, 'refreshed')
    t.match(setCookies(response)[0], new RegExp(`; Max-Age=${maxAge}; `))
    const ttl = await backend.ttl(key)
    const expected = maxAge + offset + 3601
    t.ok(ttl !== null && ttl > expected - 10 && ttl <= expected + 1, `the server keeps it until now + maxAge (${ttl} s, expected ${expected})`)
  })
}

t.test('a custom storage refreshes through its own saveSession; a refresh that fails is logged and the response goes out without it', async (t) => {
  const clock = fakeDate(t, T0)
  let failing = false
  class FlakyStorage extends MemoryStorage {
    override async saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): Promise<void> {
      if (failing) throw new Error('store down')
      await super.saveSession(request, reply, session)
    }
  }
  const storage = new FlakyStorage(ROLLING)
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/read', async (request) => request.session.toJSON())
    app.post('/set', async (request) => {
      request.session.set('user', 'ada')
      return 'ok'
    })
  })
  const cookie = cookiePair(await app.inject({ method: 'POST', url: '/set' })) as string
  const id = cookie.slice(cookie.indexOf('=') + 1)
  clock.setSystemTime((T0 + OLD) * 1000)
  failing = true
  const failed = await app.inject({ url: '/read', headers: { cookie } })
  t.same([failed.statusCode, failed.json(), setCookies(failed)], [200, { user: 'ada' }, []], 'the response is unchanged')
  t.match(sessionLines(failed), [{ level: 40, msg: /the rolling refresh of the session failed/, err: { message: 'store down' } }])
  t.equal(JSON.parse(storage.records.get(id) as string).created, T0, 'nothing was written')
  failing = false
  const refreshed = await app.inject({ url: '/read', headers: { cookie } })
  t.equal(cookiePair(refreshed), cookie, 'the next request refreshes it')
  t.equal(JSON.parse(storage.records.get(id) as string).created, T0 + OLD)
})
