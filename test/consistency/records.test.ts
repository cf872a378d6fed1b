/**
 * What a save finds in the store and what it costs: a record that another writer
 * (aiohttp-session, another app) changed, emptied or let expire between a request's load
 * and its save; a writer that wins every race; ids that already exist; a flushed script
 * cache; and the commands a request sends. On Redis, a 3-master Redis Cluster and
 * Memcached with one and two servers.
 */
import t from 'tap'
import type { Test } from 'tap'
import { MAX_SAVE_ATTEMPTS } from '../../lib/storage/store-storage.js'
import { buildApp, errorLines } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { Holds, race, recordKeyOfPair, seed, storedData } from '../helpers/race.js'
import type { Operation } from '../helpers/race.js'
import { ioDuring, memcachedBackend, memcachedPairBackend, recordKey, redisBackend, redisClusterBackend } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'

const backends = await Promise.all([redisBackend, redisClusterBackend, memcachedBackend, memcachedPairBackend].map(async (start) => await start(t)))

const MAX_AGE = 3600

async function app (t: Test, backend: StoreBackend, options = {}) {
  const holds = new Holds()
  const { app } = await buildApp(t, backend.storage({ maxAge: MAX_AGE, ...options }), (app) => { holds.routes(app) })
  return { app, holds }
}

/**
 * Holds one request changing the session, runs `meanwhile` (a write by someone else)
 * between its load and its save, then lets it save.
 */
async function withWriteBetween (t: Test, backend: StoreBackend, operations: readonly Operation[], meanwhile: (key: string) => Promise<void>, options = {}) {
  const { app: server, holds } = await app(t, backend, options)
  const cookie = await seed(server, { user: 'ada' })
  const key = recordKeyOfPair(cookie)
  const pending = server.inject({ method: 'POST', url: '/hold/one', headers: { cookie }, payload: operations as unknown as Record<string, unknown> })
  await holds.reached('one')
  await meanwhile(key)
  holds.release('one')
  return { server, cookie, key, response: await pending }
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

for (const backend of backends) {
  t.test(`${backend.name}: a record aiohttp-session emptied ({}) or that expired meanwhile counts as logged out`, async (t) => {
    const expired = JSON.stringify({ created: nowSeconds() - MAX_AGE - 10, session: { user: 'ada' } })
    for (const [what, record] of [['{}', '{}'], ['an expired envelope', expired]] as const) {
      const { response, key } = await withWriteBetween(t, backend, [['set', 'cart', [1]]], async (key) => await backend.rawSet(key, record))
      t.equal(response.statusCode, 200, what)
      t.same(setCookies(response), [], `${what}: the write is dropped without a Set-Cookie`)
      t.equal((await backend.rawGet(key))?.toString(), record, `${what}: the record is left as it was`)
    }
  })

  t.test(`${backend.name}: a record written meanwhile in Python's format keeps its bytes through our merge`, async (t) => {
    const python = `{"created": ${nowSeconds()}, "session": {"user": "ada", "id": 18446744073709551616, "ratio": 1.0, "big": 1e+20, "nested": {"x": 1.50}}}`
    const { response, key } = await withWriteBetween(t, backend, [['set', 'cart', [1]]], async (key) => await backend.rawSet(key, python))
    t.equal(response.statusCode, 200)
    const stored = (await backend.rawGet(key))!.toString()
    for (const member of ['"id":18446744073709551616', '"ratio":1.0', '"big":1e+20', '"nested":{"x": 1.50}', '"user":"ada"']) {
      t.ok(stored.includes(member), `the record holds ${member} exactly`)
    }
    t.match(stored, /"cart":\[1\]\}\}$/, 'and our change, appended')
  })

  t.test(`${backend.name}: with a custom codec, a write meanwhile is merged through decoded values; an undecodable record counts as logged out`, async (t) => {
    // A codec other than JSON's text: members cannot be kept as text, so the merge
    // works on what the decoder gives.
    const codec = { encoder: (value: unknown) => 'v1:' + JSON.stringify(value), decoder: (text: string) => JSON.parse(text.slice(3)) as unknown }
    const { app: server, holds } = await app(t, backend, codec)
    const cookie = await seed(server, { user: 'ada' })
    const key = recordKeyOfPair(cookie)
    const pending = server.inject({ method: 'POST', url: '/hold/one', headers: { cookie }, payload: [['set', 'cart', [1]]] as unknown as Record<string, unknown> })
    await holds.reached('one')
    await backend.rawSet(key, codec.encoder({ created: nowSeconds(), session: { user: 'ada', theme: 'dark' } }))
    holds.release('one')
    t.equal((await pending).statusCode, 200)
    const stored = (await backend.rawGet(key))!.toString()
    t.ok(stored.startsWith('v1:'), 'written by the encoder')
    t.same((codec.decoder(stored) as { session: unknown }).session, { user: 'ada', theme: 'dark', cart: [1] }, 'both changes')

    const garbled = await withWriteBetween(t, backend, [['set', 'cart', [2]]], async (key) => await backend.rawSet(key, 'not the codec'), codec)
    t.equal(garbled.response.statusCode, 200)
    t.same(setCookies(garbled.response), [], 'dropped without a Set-Cookie')
    t.equal((await backend.rawGet(garbled.key))?.toString(), 'not the codec', 'and left as it was')

    const notSession = codec.encoder({ created: nowSeconds(), session: 'not an object' })
    const refused = await withWriteBetween(t, backend, [['set', 'cart', [3]]], async (key) => await backend.rawSet(key, notSession), codec)
    t.same(setCookies(refused.response), [], 'a decodable record that is no session: dropped too')
    t.equal((await backend.rawGet(refused.key))?.toString(), notSession)
  })

  t.test(`${backend.name}: a record that changes and then disappears while a save retries: the save is dropped`, async (t) => {
    const { app: server } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    const key = recordKeyOfPair(cookie)
    // The first write of the save finds the record changed; before its next step (Redis:
    // the second compare-and-set; Memcached: reading the record again) it is deleted.
    const steps: string[] = []
    backend.beforeCommands(async (kind) => {
      if (steps.length === 0 && kind !== 'writes') return // the request's load
      steps.push(kind)
      if (steps.length === 1) await backend.rawSet(key, JSON.stringify({ created: nowSeconds(), session: { user: 'ada', theme: 'dark' } }))
      if (steps.length === 2) await backend.rawDelete(key)
    })
    t.teardown(() => { backend.beforeCommands(undefined) })
    const response = await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [1] } })
    backend.beforeCommands(undefined)
    t.equal(response.statusCode, 200)
    t.same(steps.slice(0, 2), ['writes', backend.name.startsWith('Memcached') ? 'reads' : 'writes'])
    t.same(setCookies(response), [], 'dropped without a Set-Cookie')
    t.equal(await backend.rawGet(key), null, 'the record stays gone')
  })

  t.test(`${backend.name}: a record replaced meanwhile by bytes that are not UTF-8: the save is dropped, the bytes kept`, async (t) => {
    const garbage = Buffer.from([0x7b, 0xff, 0xfe, 0x7d])
    const { response, key } = await withWriteBetween(t, backend, [['set', 'cart', [1]]], async (key) => await backend.rawSet(key, garbage))
    t.equal(response.statusCode, 200)
    t.same(setCookies(response), [])
    t.same(await backend.rawGet(key), garbage)
  })

  t.test(`${backend.name}: a writer that changes the record before every attempt: a 503 after ${MAX_SAVE_ATTEMPTS} attempts, nothing of ours written`, async (t) => {
    const { app: server } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    const key = recordKeyOfPair(cookie)
    let interference = 0
    backend.beforeWrites(async () => {
      interference++
      await backend.rawSet(key, JSON.stringify({ created: nowSeconds(), session: { user: 'ada', interference } }))
    })
    t.teardown(() => { backend.beforeWrites(undefined) })
    const response = await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { cart: [1] } })
    backend.beforeWrites(undefined)
    t.equal(response.statusCode, 503)
    t.match(response.json(), { code: 'FST_SESSIONS_STORAGE' })
    t.match(errorLines(response), [{ err: { message: /lost \d+ races in a row/ } }])
    t.same(setCookies(response), [])
    t.equal(interference, MAX_SAVE_ATTEMPTS, 'one attempt per interference, then it gives up')
    t.same(await storedData(backend, cookie), { user: 'ada', interference }, 'the record is the other writer\'s last write, nothing of ours')
  })

  t.test(`${backend.name}: a keyFactory that returns an id that exists: a new id is drawn, the record is untouched`, async (t) => {
    const existing = 'taken-by-someone'
    await backend.rawSet(recordKey(existing), '{"created": 1, "session": {"owner": "someone"}}')
    const ids = [existing, existing, 'fresh-one']
    const { app: server } = await app(t, backend, { keyFactory: () => ids.shift() ?? 'unused' })
    const login = await server.inject({ method: 'POST', url: '/seed', payload: { user: 'eve' } })
    t.equal(cookiePair(login), 'AIOHTTP_SESSION=fresh-one', 'after two collisions, the third id')
    t.equal((await backend.rawGet(recordKey(existing)))?.toString(), '{"created": 1, "session": {"owner": "someone"}}', 'the existing record is untouched')

    const always = await app(t, backend, { keyFactory: () => existing })
    const refused = await always.app.inject({ method: 'POST', url: '/seed', payload: { user: 'eve' } })
    t.equal(refused.statusCode, 500)
    t.match(refused.json(), { code: 'FST_SESSIONS_IDENTITY', message: /keyFactory returned 3 ids in a row that already have a record/ })
    t.same(setCookies(refused), [])
    t.equal((await backend.rawGet(recordKey(existing)))?.toString(), '{"created": 1, "session": {"owner": "someone"}}')
  })

  t.test(`${backend.name}: one read and one write per changing request; a conflict costs more, never less`, async (t) => {
    const { app: server, holds } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    // The first compare-and-set of a storage sends the script in full; measure after it.
    await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { warm: true } })
    const [changed, changedIo] = await ioDuring(backend, async () => await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { a: 1 } }))
    t.equal(changed.statusCode, 200)
    t.same(changedIo, { reads: 1, writes: 1, deletes: 0 }, 'a change: one read, one write')
    const [read, readIo] = await ioDuring(backend, async () => await server.inject({ url: '/read', headers: { cookie } }))
    t.equal(read.statusCode, 200)
    t.same(readIo, { reads: 1, writes: 0, deletes: 0 }, 'no change: one read, no write')
    const [, conflictIo] = await ioDuring(backend, async () => await race(server, holds, cookie, { a: [['set', 'x', 1]], b: [['set', 'y', 2]] }, ['a', 'b']))
    const extraRead = backend.name.startsWith('Memcached') ? 1 : 0
    t.same(conflictIo, { reads: 2 + extraRead, writes: 3, deletes: 0 },
      'two requests, one conflict: one more write (and for Memcached one more read: it does not say what the record holds)')
    t.same(await storedData(backend, cookie), { user: 'ada', warm: true, a: 1, x: 1, y: 2 })
  })

  t.test(`${backend.name}: overlapping saves of one process go in turn: one write each, no retries`, async (t) => {
    const { app: server, holds } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { warm: true } })
    const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const requests = Object.fromEntries(names.map((name) => [name, [['set', name, name]] as Operation[]]))
    // All eight load the same record, then save at once.
    const [responses, io] = await ioDuring(backend, async () => await race(server, holds, cookie, requests, [names]))
    for (const name of names) t.equal(responses[name]?.statusCode, 200, name)
    // Memcached does not report the CAS of what it stored: each save after the first reads it.
    const rereads = backend.name.startsWith('Memcached') ? names.length - 1 : 0
    t.same(io, { reads: names.length + rereads, writes: names.length, deletes: 0 }, 'one compare-and-set per request, none lost to a race')
    t.same(await storedData(backend, cookie), { user: 'ada', warm: true, ...Object.fromEntries(names.map((name) => [name, name])) })
  })

  t.test(`${backend.name}: a flushed script cache between requests costs one command more, once`, async (t) => {
    const { app: server } = await app(t, backend)
    const cookie = await seed(server, { user: 'ada' })
    await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { warm: true } })
    await backend.flushScripts()
    const [first, firstIo] = await ioDuring(backend, async () => await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { a: 1 } }))
    t.equal(first.statusCode, 200)
    const redis = backend.name.startsWith('Redis')
    t.same(firstIo, { reads: 1, writes: redis ? 2 : 1, deletes: 0 }, redis ? 'EVALSHA refused (NOSCRIPT), then EVAL' : 'nothing to flush')
    const [, nextIo] = await ioDuring(backend, async () => await server.inject({ method: 'POST', url: '/set', headers: { cookie }, payload: { b: 2 } }))
    t.same(nextIo, { reads: 1, writes: 1, deletes: 0 }, 'and one write again after that')
    t.same(await storedData(backend, cookie), { user: 'ada', warm: true, a: 1, b: 2 })
  })
}
