/**
 * Bad input never becomes a 500: every unreadable cookie gives a new, empty, unchanged
 * session (no Set-Cookie) and a log line with the reason, for every cookie storage.
 */
import t from 'tap'
import { SimpleCookieStorage, generateKey } from '../index.js'
import type { AbstractStorage } from '../index.js'
import { quoteCookieValue, unquoteCookieValue } from '../lib/wire/cookie.js'
import { MAX_JSON_DEPTH } from '../lib/wire/json-value.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import type { FastifyInstance } from 'fastify'
import { buildApp, sessionLine } from './helpers/app.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { fernetEncrypt, naclSeal } from './helpers/reference.js'

const NOW = Math.floor(Date.now() / 1000)
const KEY_TEXT = generateKey()
const KEY = Buffer.from(KEY_TEXT, 'base64url')
const OTHER_KEY = generateKey()

interface Kind {
  name: string
  storage: () => AbstractStorage
  /** A cookie value carrying arbitrary payload bytes, sealed the way this storage expects. */
  seal: (payload: Buffer) => string
  /** The same, sealed with a key the storage does not know. */
  foreign: () => AbstractStorage
}

const kinds: Kind[] = [
  {
    name: 'SimpleCookieStorage',
    storage: () => new SimpleCookieStorage(),
    seal: (payload) => payload.toString('latin1'),
    foreign: () => new SimpleCookieStorage()
  },
  {
    name: 'EncryptedCookieStorage',
    storage: () => new EncryptedCookieStorage(KEY_TEXT),
    seal: (payload) => fernetEncrypt(payload, KEY, NOW, Buffer.alloc(16, 7)),
    foreign: () => new EncryptedCookieStorage(OTHER_KEY)
  },
  {
    name: 'NaClCookieStorage',
    storage: () => new NaClCookieStorage(KEY_TEXT),
    seal: (payload) => naclSeal(payload, KEY, Buffer.alloc(24, 9)),
    foreign: () => new NaClCookieStorage(OTHER_KEY)
  }
]

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ isNew: request.session.isNew, empty: request.session.empty, keys: [...request.session.keys()] }))
  app.get('/write', async (request) => {
    request.session.set('user', 'ann')
    return 'ok'
  })
}

const envelope = (session: unknown): Buffer => Buffer.from(JSON.stringify({ created: NOW, session }))

/** `levels` arrays, one inside the other. */
function nested (levels: number): unknown {
  let value: unknown = 'leaf'
  for (let level = 0; level < levels; level++) value = [value]
  return value
}

for (const kind of kinds) {
  t.test(kind.name, async (t) => {
    const { app } = await buildApp(t, kind.storage(), routes)
    const written = await app.inject('/write')
    const valid = cookiePair(written) as string
    const validValue = cookieValue(written)
    const foreign = await buildApp(t, kind.foreign(), routes)
    const foreignValue = cookieValue(await foreign.app.inject('/write'))

    const sealed = (payload: Buffer): string => quoteCookieValue(kind.seal(payload))
    const middle = Math.floor(validValue.length / 2)
    const flipped = validValue.slice(0, middle) + (validValue[middle] === 'A' ? 'B' : 'A') + validValue.slice(middle + 1)
    const hostile: Array<[string, string]> = [
      ['garbage', 'garbage!!'],
      ['empty', ''],
      ['empty quoted', '""'],
      ['truncated', validValue.slice(0, -10)],
      ['tampered', flipped],
      ['a huge value', 'x'.repeat(10_000)],
      ['not UTF-8', sealed(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))],
      ['not JSON', sealed(Buffer.from('not json'))],
      ['JSON null', sealed(Buffer.from('null'))],
      ['JSON number', sealed(Buffer.from('1'))],
      ['JSON string', sealed(Buffer.from('"str"'))],
      ['JSON array', sealed(Buffer.from('[1]'))],
      ['created not an integer', sealed(Buffer.from(`{"created": ${NOW}.5, "session": {"a": 1}}`))],
      ['session not an object', sealed(Buffer.from(`{"created": ${NOW}, "session": [1]}`))],
      ['a bare word', sealed(Buffer.from(`{"created": ${NOW}, "session": {"a": NaNa}}`))],
      ['nested deeper than set() accepts', sealed(envelope({ a: nested(MAX_JSON_DEPTH + 1) }))]
    ]
    if (kind.name !== 'SimpleCookieStorage') hostile.push(['wrong key', foreignValue])

    for (const [name, value] of hostile) {
      const response = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${value}` } })
      t.equal(response.statusCode, 200, `${name}: never a 500`)
      t.same(response.json(), { isNew: true, empty: true, keys: [] }, `${name}: a new empty session`)
      t.same(setCookies(response), [], `${name}: no Set-Cookie for it`)
      const warning = sessionLine(response)
      t.match(warning, { level: 40, cookieName: 'AIOHTTP_SESSION', reason: String }, `${name}: one warning, with the reason`)
      if (value.length > 8) t.notMatch(JSON.stringify(warning), value.slice(0, 8), `${name}: the cookie is not logged`)
    }

    const empty = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${sealed(Buffer.from('{}'))}` } })
    t.same(empty.json(), { isNew: true, empty: true, keys: [] }, '{} (aiohttp\'s empty session) is a new session…')
    t.match(sessionLine(empty), { level: 20, reason: 'empty' }, '…logged at debug: it is routine')

    const deepest = sealed(envelope({ a: nested(MAX_JSON_DEPTH) }))
    const atLimit = await app.inject({ url: '/write', headers: { cookie: `AIOHTTP_SESSION=${deepest}` } })
    t.equal(atLimit.statusCode, 200, `a value ${MAX_JSON_DEPTH} levels deep, as deep as set() accepts, loads…`)
    const savedBack = await app.inject({ url: '/read', headers: { cookie: cookiePair(atLimit) as string } })
    t.same(savedBack.json(), { isNew: false, empty: false, keys: ['a', 'user'] }, '…and is saved back with the route\'s change')

    const pythonFloats = sealed(Buffer.from(`{"created": ${NOW}, "session": {"n": NaN, "inf": -Infinity}}`))
    const floats = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${pythonFloats}` } })
    t.same(floats.json(), { isNew: false, empty: false, keys: ['n', 'inf'] }, 'Python\'s NaN/Infinity tokens load')

    const polluting = sealed(envelope(JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"x": 1}}}')))
    const loaded = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${polluting}` } })
    t.same(loaded.json(), { isNew: false, empty: false, keys: ['__proto__', 'constructor'] }, '__proto__ and constructor are plain keys')
    t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype was polluted')
    t.equal(({} as Record<string, unknown>)['x'], undefined)

    const duplicates = [
      [`AIOHTTP_SESSION=garbage; AIOHTTP_SESSION=${validValue}`, false],
      [`AIOHTTP_SESSION=${validValue}; AIOHTTP_SESSION=garbage`, true]
    ] as const
    for (const [cookie, isNew] of duplicates) {
      const response = await app.inject({ url: '/read', headers: { cookie } })
      t.equal(response.json().isNew, isNew, 'duplicate names: the last one wins, as in aiohttp')
    }

    const bigHeader = `other=${'a'.repeat(10_240)}; ${valid}; x={"json": "in a cookie"}`
    const big = await app.inject({ url: '/read', headers: { cookie: bigHeader } })
    t.same(big.json(), { isNew: false, empty: false, keys: ['user'] }, 'a 10 KB header with malformed neighbours still finds our cookie')
  })
}

t.test('Simple: raw UTF-8 in the header is read as UTF-8', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const value = quoteCookieValue(envelope({ é: 'ü😀' }).toString('latin1'))
  const response = await app.inject({ url: '/read', headers: { cookie: `AIOHTTP_SESSION=${value}` } })
  t.same(response.json(), { isNew: false, empty: false, keys: ['é'] })
})

t.test('Simple: a forged, deeply nested session is refused at load, so a writing route still saves', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  // 7,000 levels: 14 kB, within Node's 16 kB header limit, and deeper than JSON.stringify can write back.
  const depth = 7000
  const forged = quoteCookieValue(`{"created": ${NOW}, "session": {"deep": ${'['.repeat(depth)}${']'.repeat(depth)}}}`)
  const response = await app.inject({ url: '/write', headers: { cookie: `AIOHTTP_SESSION=${forged}` } })
  t.equal(response.statusCode, 200, 'the writing route answers')
  t.same(JSON.parse(unquoteCookieValue(cookieValue(response))).session, { user: 'ann' }, 'and saves only what it set')
  t.match(sessionLine(response), { level: 40, reason: `a session value is nested more than ${MAX_JSON_DEPTH} levels deep` })
})
