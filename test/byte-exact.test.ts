/**
 * Keys a request did not change are written back as the exact JSON text they were read
 * as, on every storage: a Python `1.0`, integers beyond 2^53, `1e+20`, `NaN` and odd
 * spacing inside a value survive a save that changed another key, an in-place edit of
 * another key (`changed()`), a key rotation, and `regenerate()` for the keys it keeps.
 * Cookies are opened with the reference codecs of test/helpers/reference.ts.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { quoteCookieValue, unquoteCookieValue } from '../lib/wire/cookie.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { buildApp } from './helpers/app.js'
import { findSetCookie, setCookies } from './helpers/cookies.js'
import { recordKeyOfPair } from './helpers/race.js'
import { fernetDecrypt, fernetEncrypt, naclOpen, naclSeal } from './helpers/reference.js'
import { memcachedBackend, redisBackend } from './helpers/stores.js'
import type { StoreBackend } from './helpers/stores.js'

const backends = await Promise.all([redisBackend, memcachedBackend].map(async (start) => await start(t)))

/** A session as Python's json.dumps writes it, with values JSON.parse cannot keep. */
function pythonEnvelope (created: number): string {
  return `{"created": ${created}, "session": {"user": "ann", "id": 18446744073709551616, "ratio": 1.0, "big": 1e+20, ` +
    '"nan": NaN, "spaced": [1,  2 ], "cart": [1], "n": 0}}'
}

/** The members of `pythonEnvelope` a request that sets `n` (and pushes onto `cart`) must keep byte for byte. */
const KEPT = ['"user":"ann"', '"id":18446744073709551616', '"ratio":1.0', '"big":1e+20', '"nan":NaN', '"spaced":[1,  2 ]']

interface CookieCodec {
  name: string
  storage: (keys?: Buffer[]) => AbstractStorage
  seal: (text: string, key: Buffer) => string
  open: (value: string, key: Buffer) => string
}

const key = randomBytes(32)
const oldKey = randomBytes(32)

const cookieCodecs: CookieCodec[] = [
  {
    name: 'SimpleCookieStorage',
    storage: () => new SimpleCookieStorage(),
    seal: (text) => text,
    open: (value) => value
  },
  {
    name: 'EncryptedCookieStorage',
    storage: (keys = [key]) => new EncryptedCookieStorage(keys),
    seal: (text, sealKey) => fernetEncrypt(Buffer.from(text), sealKey, Math.floor(Date.now() / 1000), randomBytes(16)),
    open: (value, openKey) => fernetDecrypt(value, openKey).plaintext.toString()
  },
  {
    name: 'NaClCookieStorage',
    storage: (keys = [key]) => new NaClCookieStorage(keys),
    seal: (text, sealKey) => naclSeal(Buffer.from(text), sealKey, randomBytes(24)),
    open: (value, openKey) => naclOpen(value, openKey).plaintext.toString()
  }
]

function routes (app: FastifyInstance): void {
  app.post('/set-n', async (request) => { request.session.set('n', 1); return 'ok' })
  app.post('/push-cart', async (request) => {
    (request.session.get('cart') as number[]).push(2)
    request.session.changed()
    return 'ok'
  })
  app.post('/touch', async (request) => { request.session.changed(); return 'ok' })
  app.post('/regenerate', async (request) => { request.session.regenerate(['id', 'ratio', 'user']); return 'ok' })
  app.get('/read', async (request) => ({ n: request.session.get('n') }))
}

function keepsMembers (t: Test, text: string, members: readonly string[], what: string): void {
  for (const member of members) t.ok(text.includes(member), `${what}: ${member} is kept exactly`)
}

for (const codec of cookieCodecs) {
  t.test(`${codec.name}: untouched keys keep their bytes`, async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const cookie = `AIOHTTP_SESSION=${quoteCookieValue(codec.seal(pythonEnvelope(now), key))}`
    const { app } = await buildApp(t, codec.storage(), routes)
    const opened = async (url: string, storageKey = key): Promise<string> => {
      const response = await app.inject({ method: 'POST', url, headers: { cookie } })
      t.equal(response.statusCode, 200, url)
      return codec.open(unquoteCookieValue(findSetCookie(setCookies(response))!.value), storageKey)
    }
    const set = await opened('/set-n')
    keepsMembers(t, set, [...KEPT, '"cart":[1]'], 'a set of another key')
    t.match(set, /"n":1\}\}$/, 'the changed key in its place, as we write it')
    keepsMembers(t, await opened('/push-cart'), [...KEPT, '"n":0'], 'an in-place edit of another key')
    t.ok((await opened('/push-cart')).includes('"cart":[1,2]'), 'the edited key is written anew')
    const regenerated = await opened('/regenerate')
    keepsMembers(t, regenerated, ['"user":"ann"', '"id":18446744073709551616', '"ratio":1.0'], 'regenerate() for the keys it keeps')
    t.notMatch(regenerated, /"big"|"cart"/, 'and drops the others')
  })
}

for (const codec of cookieCodecs.slice(1)) {
  t.test(`${codec.name}: a cookie re-issued under the new key keeps every member's bytes`, async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const cookie = `AIOHTTP_SESSION=${quoteCookieValue(codec.seal(pythonEnvelope(now), oldKey))}`
    const { app } = await buildApp(t, codec.storage([key, oldKey]), routes)
    const response = await app.inject({ url: '/read', headers: { cookie } })
    const reissued = codec.open(unquoteCookieValue(findSetCookie(setCookies(response))!.value), key)
    keepsMembers(t, reissued, [...KEPT, '"cart":[1]', '"n":0'], 'a key rotation')
  })
}

for (const backend of backends) {
  t.test(`${backend.name}: untouched keys keep their bytes in the record`, async (t) => {
    const store: StoreBackend = backend
    const { app } = await buildApp(t, store.storage(), routes)
    const pair = 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef'
    await store.rawSet(recordKeyOfPair(pair), pythonEnvelope(Math.floor(Date.now() / 1000)))
    for (const [url, kept] of [['/set-n', [...KEPT, '"cart":[1]']], ['/push-cart', [...KEPT, '"n":1']]] as const) {
      const response = await app.inject({ method: 'POST', url, headers: { cookie: pair } })
      t.equal(response.statusCode, 200)
      keepsMembers(t, (await store.rawGet(recordKeyOfPair(pair)))!.toString(), kept, url)
    }
  })
}
