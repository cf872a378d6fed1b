/**
 * Rolling sessions on the cookie storages (Simple, Encrypted/Fernet, NaCl), with a faked
 * clock: a session read after `refreshAfter` seconds is re-issued with `created` = now,
 * also by a route that never touches `request.session` (which decrypts only a cookie it
 * cannot tell is young); a younger one costs nothing; expired, refused, anonymous,
 * opted-out and failed requests never refresh.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage, generateKey } from '../../index.js'
import type { CookieStorage, CookieStorageOptions } from '../../index.js'
import type { LoadFailure } from '../../lib/load-failure.js'
import type { OpenedCookie } from '../../lib/storage/cookie-storage.js'
import { CREATED_CACHE_SIZE, RecentMap } from '../../lib/storage/rolling.js'
import { formatExpires, quoteCookieValue, unquoteCookieValue } from '../../lib/wire/cookie.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../../storages/nacl-cookie.js'
import { buildApp, sessionLines } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { cookiePair, findSetCookie, setCookies } from '../helpers/cookies.js'

const T0 = 1_700_000_000
const MAX_AGE = 1000
const REFRESH_AFTER = 100
const ROLLING = { maxAge: MAX_AGE, rolling: { refreshAfter: REFRESH_AFTER } }
const KEY = generateKey()

/** Counts the cookies it opens (decrypts, for Fernet and NaCl). */
interface Counting extends CookieStorage {
  opens: number
}

class CountingSimple extends SimpleCookieStorage {
  opens = 0
  protected override openCookie (value: string): OpenedCookie | LoadFailure {
    this.opens++
    return super.openCookie(value)
  }
}
class CountingEncrypted extends EncryptedCookieStorage {
  opens = 0
  protected override openCookie (value: string): OpenedCookie | LoadFailure {
    this.opens++
    return super.openCookie(value)
  }
}
class CountingNaCl extends NaClCookieStorage {
  opens = 0
  protected override openCookie (value: string): OpenedCookie | LoadFailure {
    this.opens++
    return super.openCookie(value)
  }
}

// The opened-cookie cache is off, so every decryption the created cache does not save shows.
const storages: Array<[string, (options: CookieStorageOptions) => Counting]> = [
  ['Simple', (options) => new CountingSimple({ cacheSize: 0, ...options })],
  ['Encrypted', (options) => new CountingEncrypted(KEY, { cacheSize: 0, ...options })],
  ['NaCl', (options) => new CountingNaCl(KEY, { cacheSize: 0, ...options })]
]

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.toJSON(), isNew: request.session.isNew, created: request.session.created }))
  app.get('/untouched', async () => 'ok')
  app.post('/set', async (request) => {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
    return 'ok'
  })
  app.get('/health', { config: { session: false } }, async () => 'ok')
  app.get('/boom', async (request) => {
    request.session.get('user')
    throw new Error('boom')
  })
  app.get('/boom-untouched', async () => { throw new Error('boom') })
  app.get('/not-found', async (request) => {
    request.session.get('user')
    throw Object.assign(new Error('no such page'), { statusCode: 404 })
  })
}

async function setUp (t: Test, make: (options: CookieStorageOptions) => Counting, options: CookieStorageOptions = ROLLING) {
  const clock = fakeDate(t, T0)
  const storage = make(options)
  const { app } = await buildApp(t, storage, routes)
  const seeded = await app.inject({ method: 'POST', url: '/set', payload: { user: 'ada' } })
  const cookie = cookiePair(seeded) as string
  /** GET `url` at T0 + `at` seconds with the cookie `sent` (null: none). */
  const get = async (url: string, at: number, sent: string | null = cookie) => {
    clock.setSystemTime((T0 + at) * 1000)
    return await app.inject({ url, headers: sent === null ? {} : { cookie: sent } })
  }
  const post = async (url: string, at: number, body: object) => {
    clock.setSystemTime((T0 + at) * 1000)
    return await app.inject({ method: 'POST', url, headers: { cookie }, payload: body })
  }
  return { storage, app, cookie, clock, get, post }
}

for (const [name, make] of storages) {
  t.test(`${name}: without rolling, a read-only request never re-issues the cookie, at any age`, async (t) => {
    const { get } = await setUp(t, make, { maxAge: MAX_AGE })
    for (const at of [0, REFRESH_AFTER + 1, MAX_AGE - 1, MAX_AGE]) {
      for (const url of ['/read', '/untouched']) t.same(setCookies(await get(url, at)), [], `${url} at ${at} s`)
    }
  })

  t.test(`${name}: a session no older than refreshAfter costs nothing: no Set-Cookie, and no decryption on an untouched route`, async (t) => {
    const { storage, get } = await setUp(t, make)
    t.same(setCookies(await get('/read', REFRESH_AFTER)), [], 'read at exactly refreshAfter')
    storage.opens = 0
    for (const at of [1, REFRESH_AFTER]) t.same(setCookies(await get('/untouched', at)), [], `untouched at ${at} s`)
    t.equal(storage.opens, 0, 'the cookie this storage sealed is known to be young without opening it')
  })

  t.test(`${name}: a session older than refreshAfter is re-issued with created = now, the same data and a new expiry`, async (t) => {
    const { get, cookie } = await setUp(t, make)
    const at = REFRESH_AFTER + 1
    const refreshed = await get('/read', at)
    t.same(refreshed.json(), { data: { user: 'ada' }, isNew: false, created: T0 }, 'the handler saw the session as loaded')
    const headers = setCookies(refreshed)
    t.equal(headers.length, 1, 'exactly one Set-Cookie')
    t.equal(headers[0], `${findSetCookie(headers)!.pair}; expires=${formatExpires(T0 + at + MAX_AGE)}; HttpOnly; Max-Age=${MAX_AGE}; Path=/; SameSite=Lax`)
    const fresh = cookiePair(refreshed) as string
    t.not(fresh, cookie, 'a new sealed value')
    t.same((await get('/read', at, fresh)).json(), { data: { user: 'ada' }, isNew: false, created: T0 + at }, 'created is now')
    t.same(setCookies(await get('/read', at + REFRESH_AFTER, fresh)), [], 'and it is young again')
    t.same((await get('/read', MAX_AGE + 1, fresh)).json(), { data: { user: 'ada' }, isNew: false, created: T0 + at }, 'it outlives the old expiry')
    const expired = await get('/read', MAX_AGE + 1, cookie)
    t.same(expired.json(), { data: {}, isNew: true, created: T0 + MAX_AGE + 1 }, 'while the old cookie has expired')
  })

  t.test(`${name}: a route that never touches the session re-issues an old cookie, decrypting it once`, async (t) => {
    const { storage, get, cookie } = await setUp(t, make)
    storage.opens = 0
    const refreshed = await get('/untouched', REFRESH_AFTER + 1)
    t.equal(refreshed.body, 'ok')
    t.equal(setCookies(refreshed).length, 1, 'a Set-Cookie')
    const fresh = cookiePair(refreshed) as string
    t.not(fresh, cookie)
    t.equal(storage.opens, 1, 'the old cookie was opened once, to refresh it')
    t.same(setCookies(await get('/untouched', 2 * REFRESH_AFTER + 1, fresh)), [], 'the cookie it sealed is young')
    t.equal(storage.opens, 1, 'and known to be so without opening it')
    t.same((await get('/read', 2 * REFRESH_AFTER + 1, fresh)).json(), { data: { user: 'ada' }, isNew: false, created: T0 + REFRESH_AFTER + 1 })
  })

  t.test(`${name}: a cookie this process has not seen is opened once on an untouched route, then remembered`, async (t) => {
    const { clock, cookie } = await setUp(t, make)
    // Another instance with the same key (another process behind the same load balancer).
    const storage = make(ROLLING)
    const { app } = await buildApp(t, storage, routes)
    const get = async (url: string, sent: string) => await app.inject({ url, headers: { cookie: sent } })
    t.same(setCookies(await get('/untouched', cookie)), [], 'young')
    t.equal(storage.opens, 1, 'opened once to learn its age')
    t.same(setCookies(await get('/untouched', cookie)), [])
    t.equal(storage.opens, 1, 'then remembered')
    const older = make(ROLLING)
    const { app: olderApp } = await buildApp(t, older, routes)
    clock.setSystemTime((T0 + REFRESH_AFTER + 1) * 1000)
    const refreshed = await olderApp.inject({ url: '/untouched', headers: { cookie } })
    t.equal(setCookies(refreshed).length, 1, 'an old unseen cookie is refreshed')
    t.equal(older.opens, 1, 'with one opening')
  })

  t.test(`${name}: never refreshed: an expired cookie, an anonymous request, an opted-out route, an uncaught error`, async (t) => {
    const { get, cookie } = await setUp(t, make)
    for (const url of ['/read', '/untouched']) {
      t.same(setCookies(await get(url, MAX_AGE + 1)), [], `${url}: an expired cookie is not revived`)
      t.same(setCookies(await get(url, REFRESH_AFTER + 1, null)), [], `${url}: no cookie, no session`)
    }
    t.same((await get('/read', MAX_AGE + 1)).json(), { data: {}, isNew: true, created: T0 + MAX_AGE + 1 }, 'the expired session is gone')
    t.same(setCookies(await get('/health', REFRESH_AFTER + 1)), [], 'opted out')
    for (const url of ['/boom', '/boom-untouched']) {
      const failed = await get(url, REFRESH_AFTER + 1)
      t.equal(failed.statusCode, 500)
      t.same(setCookies(failed), [], `${url}: nothing is saved after an unexpected error`)
    }
    const notFound = await get('/not-found', REFRESH_AFTER + 1)
    t.equal(notFound.statusCode, 404)
    t.equal(setCookies(notFound).length, 1, 'an error with its own status is a normal reply: it saves, so it refreshes')
    t.not(cookiePair(notFound), cookie)
  })

  t.test(`${name}: a request that changes an old session saves once, as any change`, async (t) => {
    const { get, post } = await setUp(t, make)
    const changed = await post('/set', REFRESH_AFTER + 1, { theme: 'dark' })
    t.equal(setCookies(changed).length, 1)
    t.same((await get('/read', REFRESH_AFTER + 1, cookiePair(changed) as string)).json(), { data: { user: 'ada', theme: 'dark' }, isNew: false, created: T0 + REFRESH_AFTER + 1 })
  })
}

t.test('Simple: a loaded session with no keys is not refreshed', async (t) => {
  const { get } = await setUp(t, storages[0]![1])
  const empty = `AIOHTTP_SESSION=${quoteCookieValue(`{"created": ${T0}, "session": {}}`)}`
  for (const url of ['/read', '/untouched']) t.same(setCookies(await get(url, REFRESH_AFTER + 1, empty)), [], url)
  t.same((await get('/read', REFRESH_AFTER + 1, empty)).json(), { data: {}, isNew: false, created: T0 }, 'it was loaded')
})

t.test('Encrypted: the refreshed Fernet token is stamped now, never ahead of it (Python refuses tokens over 60 s ahead)', async (t) => {
  const { get } = await setUp(t, storages[1]![1])
  for (const at of [REFRESH_AFTER + 1, 3 * REFRESH_AFTER]) {
    const refreshed = await get('/untouched', at)
    const token = Buffer.from(unquoteCookieValue(findSetCookie(setCookies(refreshed))!.value), 'base64url')
    t.equal(token.readUInt32BE(1) * 2 ** 32 + token.readUInt32BE(5), T0 + at, `refreshed at ${at} s: stamped T0 + ${at}`)
  }
})

t.test('a refresh that fails is logged at warn and the response goes out unchanged, without a cookie', async (t) => {
  let failing = false
  const encoder = (envelope: object): string => {
    if (failing) throw new Error('encoder down')
    return JSON.stringify(envelope)
  }
  const { get, storage } = await setUp(t, (options) => new CountingSimple({ ...options, encoder }))
  t.ok(storage)
  failing = true
  for (const url of ['/read', '/untouched']) {
    const response = await get(url, REFRESH_AFTER + 1)
    t.equal(response.statusCode, 200, url)
    t.same(setCookies(response), [], `${url}: no Set-Cookie`)
    t.match(sessionLines(response), [{ level: 40, msg: /the rolling refresh of the session failed; it keeps its previous expiry/, err: { type: 'SessionEncodingError' } }])
  }
})

t.test(`the created cache keeps at most ${CREATED_CACHE_SIZE} cookies, the most recent: an evicted one is opened again`, async (t) => {
  fakeDate(t, T0)
  const storage = new CountingSimple(ROLLING)
  const { app } = await buildApp(t, storage, routes)
  const cookieOf = (index: number): string => `AIOHTTP_SESSION=${quoteCookieValue(`{"created": ${T0}, "session": {"n": ${index}}}`)}`
  // Loaded directly, as a handler's first use of request.session would.
  const request = (cookie: string) => ({ headers: { cookie }, log: app.log }) as unknown as FastifyRequest
  const untouched = async (index: number): Promise<number> => {
    const before = storage.opens
    t.same(setCookies(await app.inject({ url: '/untouched', headers: { cookie: cookieOf(index) } })), [])
    return storage.opens - before
  }
  for (let index = 0; index < CREATED_CACHE_SIZE; index++) storage.loadSession(request(cookieOf(index)))
  t.equal(await untouched(0), 0, 'the first is still known')
  t.equal(await untouched(CREATED_CACHE_SIZE - 1), 0, 'and the last')
  // Not quite another half of the cache: the two cookies just used stay, older ones go.
  const half = CREATED_CACHE_SIZE / 2
  for (let index = CREATED_CACHE_SIZE; index < CREATED_CACHE_SIZE + half - 2; index++) storage.loadSession(request(cookieOf(index)))
  t.equal(await untouched(1), 1, 'one neither recent nor in use was evicted: opened again')
  t.equal(await untouched(0), 0, 'a cookie in use (looked up meanwhile) is kept')
  t.equal(await untouched(CREATED_CACHE_SIZE + half - 3), 0, 'the most recent is known')
  t.equal(await untouched(1), 0, 'and the evicted one is remembered again')
})

t.test('RecentMap: bounded, O(1), keeps what is in use', async (t) => {
  const map = new RecentMap<number>(4)
  for (let index = 0; index < 4; index++) map.set(`k${index}`, index)
  t.equal(map.get('k0'), 0, 'in the old generation: found, and moved to the young one')
  map.set('k4', 4)
  t.equal(map.get('k1'), undefined, 'neither recent nor in use: dropped')
  t.equal(map.get('k4'), 4)
  t.equal(map.get('k3'), 3, 'the generation before is still read')
  t.equal(map.get('k0'), 0, 'the one in use is kept')
  t.equal(new RecentMap<number>(1).get('x'), undefined)
  const tiny = new RecentMap<number>(1)
  tiny.set('a', 1)
  tiny.set('b', 2)
  t.same([tiny.get('a'), tiny.get('b')], [1, 2], 'a size below 2 still keeps one per generation')
})
