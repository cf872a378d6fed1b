/**
 * maxAge is enforced on our side, from the envelope's `created` (and for Fernet also
 * from the token's timestamp), with a jumped clock rather than sleeps.
 */
import t from 'tap'
import { SimpleCookieStorage, generateKey } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { quoteCookieValue } from '../lib/wire/cookie.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import type { FastifyInstance } from 'fastify'
import { buildApp, sessionLine } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { fernetEncrypt } from './helpers/reference.js'

const NOW = 1700000000
const KEY_TEXT = generateKey()
const KEY = Buffer.from(KEY_TEXT, 'base64url')

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ isNew: request.session.isNew, a: request.session.get('a') ?? null, created: request.session.created }))
  app.get('/write', async (request) => {
    request.session.set('a', ((request.session.get('a') as number | undefined) ?? 0) + 1)
    return 'ok'
  })
  app.get('/short', async (request) => {
    request.session.set('a', 1)
    request.session.maxAge = 10
    return 'ok'
  })
  app.get('/browser-session', async (request) => {
    request.session.set('a', 1)
    request.session.maxAge = undefined
    return 'ok'
  })
  app.get('/milliseconds', async (request) => {
    request.session.set('a', 1)
    request.session.maxAge = 86_400_000
    return 'ok'
  })
}

const storages: Array<[string, () => AbstractStorage]> = [
  ['Simple', () => new SimpleCookieStorage({ maxAge: 60 })],
  ['Encrypted', () => new EncryptedCookieStorage(KEY_TEXT, { maxAge: 60 })],
  ['NaCl', () => new NaClCookieStorage(KEY_TEXT, { maxAge: 60 })]
]

for (const [name, storage] of storages) {
  t.test(`${name}: a session expires maxAge seconds after its last change`, async (t) => {
    const clock = fakeDate(t, NOW)
    const { app } = await buildApp(t, storage(), routes)
    const written = await app.inject('/write')
    t.match(setCookies(written), [/; expires=Tue, 14-Nov-2023 22:14:20 GMT; HttpOnly; Max-Age=60; Path=\/; SameSite=Lax$/])
    const cookie = cookiePair(written) as string

    clock.tick(60_000)
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { isNew: false, a: 1, created: NOW }, 'age == maxAge is still valid')
    clock.tick(1000)
    const expired = await app.inject({ url: '/read', headers: { cookie } })
    t.same(expired.json(), { isNew: true, a: null, created: NOW + 61 }, 'one second later it is a new session')
    t.match(sessionLine(expired), { level: 20, reason: 'expired' }, 'logged at debug')
  })

  t.test(`${name}: writes slide the expiry; reads do not`, async (t) => {
    const clock = fakeDate(t, NOW)
    const { app } = await buildApp(t, storage(), routes)
    let cookie = cookiePair(await app.inject('/write')) as string
    clock.tick(50_000)
    t.same(setCookies(await app.inject({ url: '/read', headers: { cookie } })), [], 'a read sends nothing')
    cookie = cookiePair(await app.inject({ url: '/write', headers: { cookie } })) as string
    clock.tick(50_000)
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { isNew: false, a: 2, created: NOW + 50 }, 'the write refreshed created')
  })

  t.test(`${name}: maxAge per response`, async (t) => {
    fakeDate(t, NOW)
    const { app } = await buildApp(t, storage(), routes)
    t.match(setCookies(await app.inject('/short')), [/; expires=Tue, 14-Nov-2023 22:13:30 GMT; HttpOnly; Max-Age=10; Path=/])
    const browserSession = setCookies(await app.inject('/browser-session'))
    t.match(browserSession, [/; HttpOnly; Path=\/; SameSite=Lax$/])
    t.notMatch(browserSession[0], /expires|Max-Age/, 'no maxAge: a browser-session cookie')
    const milliseconds = await app.inject('/milliseconds')
    t.match(milliseconds, { statusCode: 500 }, 'a day in milliseconds: a programming error, a 500')
    t.match(milliseconds.json(), { code: 'FST_SESSIONS_CONFIG', message: /session\.maxAge is in seconds, .*did you mean 86400\?$/ })
  })
}

t.test('Encrypted: the Fernet timestamp is checked too (ttl and clock skew)', async (t) => {
  const clock = fakeDate(t, NOW)
  const { app } = await buildApp(t, new EncryptedCookieStorage(KEY_TEXT, { maxAge: 60 }), routes)
  const read = async (token: string) => (await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(token)}` } })).json()
  const fresh = Buffer.from(JSON.stringify({ created: NOW, session: { a: 1 } }))
  t.same(await read(fernetEncrypt(fresh, KEY, NOW - 60)), { isNew: false, a: 1, created: NOW }, 'a token exactly ttl old is valid')
  t.same(await read(fernetEncrypt(fresh, KEY, NOW - 61)), { isNew: true, a: null, created: NOW }, 'an old token is refused even with a fresh envelope')
  t.same(await read(fernetEncrypt(fresh, KEY, NOW + 60)), { isNew: false, a: 1, created: NOW }, 'up to 60 s of clock skew is tolerated')
  t.same(await read(fernetEncrypt(fresh, KEY, NOW + 61)), { isNew: true, a: null, created: NOW }, 'a token from further in the future is refused')
  clock.tick(1000)

  const { app: noMaxAge } = await buildApp(t, new EncryptedCookieStorage(KEY_TEXT), routes)
  const future = fernetEncrypt(fresh, KEY, NOW + 86_400)
  const response = await noMaxAge.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(future)}` } })
  t.same(response.json(), { isNew: false, a: 1, created: NOW }, 'without maxAge there is no ttl, as in cryptography\'s Fernet')
})

t.test('Encrypted: a token with a valid MAC but broken padding is refused', async (t) => {
  const { app } = await buildApp(t, new EncryptedCookieStorage(KEY_TEXT), routes)
  const badPadding = [
    Buffer.alloc(16, 0x41), // a last byte that cannot be a PKCS7 length
    Buffer.concat([Buffer.alloc(14, 0x41), Buffer.from([0x03, 0x02])]) // "2 bytes of padding" that are not both 2
  ]
  for (const plaintext of badPadding) {
    const token = fernetEncrypt(plaintext, KEY, NOW, Buffer.alloc(16), false)
    const response = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(token)}` } })
    t.equal(response.json().isNew, true)
    t.match(sessionLine(response), { level: 40, reason: 'the token could not be decrypted' })
  }
})

t.test('Encrypted: tokens that are not Fernet tokens', async (t) => {
  const { app } = await buildApp(t, new EncryptedCookieStorage(KEY_TEXT), routes)
  const valid = fernetEncrypt(Buffer.from('{}'), KEY, NOW)
  const raw = Buffer.from(valid, 'base64url')
  const cases: Array<[string, string]> = [
    ['abc', 'not a Fernet token (bad base64)'],
    [valid.replace(/=+$/, ''), 'not a Fernet token (bad base64)'],
    [Buffer.concat([raw, Buffer.alloc(3)]).toString('base64'), 'not a Fernet token (bad length)'],
    [Buffer.concat([Buffer.from([0x81]), raw.subarray(1)]).toString('base64'), 'not a Fernet token (unknown version)']
  ]
  for (const [token, reason] of cases) {
    const response = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(token)}` } })
    t.equal(response.json().isNew, true, `${reason}: a new session`)
    t.match(sessionLine(response), { level: 40, reason }, reason)
  }
})

t.test('NaCl: boxes too short to hold a nonce and a tag', async (t) => {
  const { app } = await buildApp(t, new NaClCookieStorage(KEY_TEXT), routes)
  const response = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${quoteCookieValue(Buffer.alloc(39).toString('base64'))}` } })
  t.equal(response.json().isNew, true)
  t.match(sessionLine(response), { level: 40, reason: 'not a NaCl box (too short)' })
})
