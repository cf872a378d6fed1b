/**
 * Key rotation: the first key seals, every key opens, and a cookie opened by an older
 * key is re-issued under the first one, even on a read-only request.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { generateKey } from '../index.js'
import type { AbstractStorage, SecretKeys } from '../index.js'
import { unquoteCookieValue } from '../lib/wire/cookie.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { buildApp } from './helpers/app.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { fernetDecrypt, naclOpen } from './helpers/reference.js'

const OLD = generateKey()
const NEW = generateKey()
const UNKNOWN = generateKey()

const kinds: Array<[string, (keys: SecretKeys) => AbstractStorage, (value: string, key: string) => Buffer]> = [
  ['Encrypted', (keys) => new EncryptedCookieStorage(keys), (value, key) => fernetDecrypt(value, Buffer.from(key, 'base64url')).plaintext],
  ['NaCl', (keys) => new NaClCookieStorage(keys), (value, key) => naclOpen(value, Buffer.from(key, 'base64url')).plaintext]
]

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ user: request.session.get('user') ?? null }))
  app.get('/write', async (request) => {
    request.session.set('user', 'ann')
    return 'ok'
  })
}

for (const [name, storage, open] of kinds) {
  t.test(name, async (t) => {
    const before = await buildApp(t, storage(OLD), routes)
    const oldCookie = cookiePair(await before.app.inject('/write')) as string
    const unknownCookie = cookiePair(await (await buildApp(t, storage(UNKNOWN), routes)).app.inject('/write')) as string

    const { app } = await buildApp(t, storage([NEW, Buffer.from(OLD, 'base64url')]), routes)
    const reissued = await app.inject({ url: '/read', headers: { cookie: oldCookie } })
    t.same(reissued.json(), { user: 'ann' }, 'a cookie sealed by the old key opens')
    const newCookie = cookiePair(reissued) as string
    t.ok(newCookie, 'and is re-issued on a read-only request')
    const value = unquoteCookieValue(cookieValue(reissued))
    t.match(JSON.parse(open(value, NEW).toString('utf8')), { session: { user: 'ann' } }, 'under the new key')
    t.throws(() => open(value, OLD), 'which the old key no longer opens')

    const current = await app.inject({ url: '/read', headers: { cookie: newCookie } })
    t.same(current.json(), { user: 'ann' })
    t.same(setCookies(current), [], 'a cookie under the current key is not re-issued')

    const unknown = await app.inject({ url: '/read', headers: { cookie: unknownCookie } })
    t.same(unknown.json(), { user: null }, 'a key in neither list opens nothing')
    t.same(setCookies(unknown), [])
  })
}
