/**
 * The opened-cookie cache: a cookie that comes back is not decrypted again, and nothing
 * else changes — expiry, key rotation and per-request data work as without it.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { SessionConfigError, SimpleCookieStorage, generateKey } from '../index.js'
import type { CookieStorageOptions, OpenedCookie } from '../index.js'
import { quoteCookieValue } from '../lib/wire/cookie.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { buildApp } from './helpers/app.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { fakeDate } from './helpers/clock.js'
import { fernetEncrypt } from './helpers/reference.js'

const NOW = 1700000000
const KEY = generateKey()
const OLD_KEY = generateKey()

class CountingNaCl extends NaClCookieStorage {
  opened = 0
  protected override openCookie (value: string): OpenedCookie | string {
    this.opened++
    return super.openCookie(value)
  }
}

class CountingEncrypted extends EncryptedCookieStorage {
  opened = 0
  protected override openCookie (value: string): OpenedCookie | string {
    this.opened++
    return super.openCookie(value)
  }
}

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ isNew: request.session.isNew, cart: request.session.get('cart') ?? null }))
  app.get('/write', async (request) => {
    request.session.set('cart', ['book'])
    return 'ok'
  })
  app.get('/mutate-in-place', async (request) => {
    (request.session.get('cart') as string[]).push('not saved: changed() was not called')
    return 'ok'
  })
}

const cookieFor = (token: string): string => `AIOHTTP_SESSION=${quoteCookieValue(token)}`

t.test('a cookie that comes back is opened once', async (t) => {
  const storage = new CountingNaCl(KEY)
  const { app } = await buildApp(t, storage, routes)
  const cookie = cookiePair(await app.inject('/write')) as string
  for (let request = 0; request < 3; request++) {
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { isNew: false, cart: ['book'] })
  }
  t.equal(storage.opened, 1)

  await app.inject({ url: '/mutate-in-place', headers: { cookie } })
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { isNew: false, cart: ['book'] },
    'each request decodes its own copy: an unsaved in-place change does not leak into the next request')

  for (const value of ['garbage', 'garbage']) await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${value}` } })
  t.equal(storage.opened, 3, 'cookies that do not open are not remembered: each garbage value was tried')
})

t.test('the envelope age is checked on every request', async (t) => {
  const clock = fakeDate(t, NOW)
  const storage = new CountingNaCl(KEY, { maxAge: 60 })
  const { app } = await buildApp(t, storage, routes)
  const cookie = cookiePair(await app.inject('/write')) as string
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().isNew, false)
  clock.tick(61_000)
  t.equal((await app.inject({ url: '/read', headers: { cookie } })).json().isNew, true, 'expired, although remembered')
})

t.test('a remembered Fernet token still expires on its own timestamp', async (t) => {
  const clock = fakeDate(t, NOW)
  const storage = new CountingEncrypted(KEY, { maxAge: 60 })
  const { app } = await buildApp(t, storage, routes)
  const envelope = Buffer.from(JSON.stringify({ created: NOW, session: { cart: ['old token'] } }))
  const oldToken = cookieFor(fernetEncrypt(envelope, Buffer.from(KEY, 'base64url'), NOW - 50))
  t.equal((await app.inject({ url: '/read', headers: { cookie: oldToken } })).json().isNew, false)
  clock.tick(11_000)
  t.equal((await app.inject({ url: '/read', headers: { cookie: oldToken } })).json().isNew, true, 'the ttl ended 60 s after the token was made')
  t.equal(storage.opened, 2, 'the stale entry was dropped and the token refused')

  const future = cookieFor(fernetEncrypt(envelope, Buffer.from(KEY, 'base64url'), NOW + 11 + 60))
  t.equal((await app.inject({ url: '/read', headers: { cookie: future } })).json().isNew, false, 'up to 60 s ahead is accepted')
  clock.setSystemTime((NOW + 10) * 1000)
  t.equal((await app.inject({ url: '/read', headers: { cookie: future } })).json().isNew, true, 'and refused when the clock goes back')
})

t.test('a cookie opened by an older key is re-issued on every request until replaced', async (t) => {
  const old = await buildApp(t, new NaClCookieStorage(OLD_KEY), routes)
  const cookie = cookiePair(await old.app.inject('/write')) as string
  const storage = new CountingNaCl([KEY, OLD_KEY])
  const { app } = await buildApp(t, storage, routes)
  for (let request = 0; request < 2; request++) {
    t.equal(setCookies(await app.inject({ url: '/read', headers: { cookie } })).length, 1)
  }
  t.equal(storage.opened, 1)
})

t.test('the oldest entries make room; cacheSize 0 turns the cache off', async (t) => {
  const storage = new CountingNaCl(KEY, { cacheSize: 2 })
  const { app } = await buildApp(t, storage, routes)
  const cookies = [await app.inject('/write'), await app.inject('/write'), await app.inject('/write')].map((response) => cookiePair(response) as string)
  for (const cookie of cookies) await app.inject({ url: '/read', headers: { cookie } })
  t.equal(storage.opened, 3)
  await app.inject({ url: '/read', headers: { cookie: cookies[2] as string } })
  t.equal(storage.opened, 3, 'the newest is remembered')
  await app.inject({ url: '/read', headers: { cookie: cookies[0] as string } })
  t.equal(storage.opened, 4, 'the oldest was dropped')

  const uncached = new CountingNaCl(KEY, { cacheSize: 0 })
  const other = await buildApp(t, uncached, routes)
  for (let request = 0; request < 2; request++) await other.app.inject({ url: '/read', headers: { cookie: cookies[0] as string } })
  t.equal(uncached.opened, 2)
})

t.test('cacheSize is validated', async (t) => {
  for (const cacheSize of [-1, 1.5, '10', Number.NaN]) {
    t.throws(() => new NaClCookieStorage(KEY, { cacheSize } as CookieStorageOptions), SessionConfigError, String(cacheSize))
  }
  t.doesNotThrow(() => new SimpleCookieStorage({ cacheSize: 10 }), 'Simple accepts it (and caches nothing by default)')
})
