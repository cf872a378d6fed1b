/**
 * Every cookie storage's two halves, property-based (fast-check, seed fixed in
 * test/helpers/property.ts), without Fastify: sealing arbitrary JSON-safe session
 * data and opening the cookie gives the data back exactly, and opening arbitrary
 * cookie values never throws and never opens anything a key did not seal. The
 * plugin end to end is in test/plugin/round-trip.test.ts and
 * test/plugin/hostile-headers.test.ts.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import t from 'tap'
import { Session, SimpleCookieStorage, generateKey } from '../index.js'
import type { CookieStorage, OpenedCookie } from '../index.js'
import { quoteCookieValue, unquoteCookieValue } from '../lib/wire/cookie.js'
import { MAX_JSON_DEPTH, findNonJsonValue } from '../lib/wire/json-value.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { fakeDate } from './helpers/clock.js'
import { dataKey, jsonData, objectOf, sessionEntries } from './helpers/json-data.js'
import { propertyOptions } from './helpers/property.js'

const NOW = 1_700_000_000

/** The two halves of a cookie storage. */
interface Halves {
  /** Session → the cookie value as sent (quoted as Python quotes it). */
  seal: (session: Session) => string
  /** A cookie value as received → the session, or why not. */
  open: (wire: string) => Session | string
}

/** What a cookie storage keeps protected, reached at run time for these tests. */
interface ProtectedHalves {
  encodeSession: (session: Session) => string
  sealCookie: (text: string) => string
  openCookie: (value: string) => OpenedCookie | string
  decodeSession: (text: string) => Session | string
}

function halves (storage: CookieStorage): Halves {
  const inner = storage as unknown as ProtectedHalves
  return {
    seal: (session) => quoteCookieValue(inner.sealCookie.call(storage, inner.encodeSession.call(storage, session))),
    open (wire) {
      const opened = inner.openCookie.call(storage, unquoteCookieValue(wire))
      return typeof opened === 'string' ? opened : inner.decodeSession.call(storage, opened.text)
    }
  }
}

const key = generateKey()
const kinds: Array<[string, () => Halves, boolean]> = [
  ['SimpleCookieStorage', () => halves(new SimpleCookieStorage({ maxAge: 3600 })), false],
  ['EncryptedCookieStorage', () => halves(new EncryptedCookieStorage(key, { maxAge: 3600 })), true],
  ['NaClCookieStorage', () => halves(new NaClCookieStorage(key, { maxAge: 3600 })), true]
]

/** The session's data as a plain object, for deepStrictEqual. */
function dataOf (session: Session): Record<string, unknown> {
  return objectOf([...session.entries()])
}

/** Base64 (either alphabet) and base64-looking text, of lengths near a token's. */
const base64Text = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).chain((bytes) => fc.constantFrom(Buffer.from(bytes).toString('base64'), Buffer.from(bytes).toString('base64url'))),
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_='.split('')), maxLength: 200 }),
  fc.uint8Array({ minLength: 57, maxLength: 200 }).map((bytes) => Buffer.concat([Buffer.from([0x80]), bytes]).toString('base64url'))
)
/** Envelopes as a client would forge them for SimpleCookieStorage: deep, Python's tokens, any data. */
const member = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: MAX_JSON_DEPTH + 2 }), fc.constantFrom('', 'NaN', '-Infinity', '1', '{"x": {}}'))
    .map(([levels, inner]) => '['.repeat(levels) + inner + ']'.repeat(levels)),
  jsonData.map((value) => JSON.stringify(value)),
  fc.constantFrom('NaN', 'Infinity', '1e999', '"\\ud800"', '{"__proto__": {"admin": true}}')
)
const forged = fc.tuple(fc.oneof(fc.integer(), fc.constantFrom(NOW, NOW - 4000, 1.5)), fc.array(fc.tuple(dataKey, member), { maxLength: 4 }))
  .map(([created, members]) => quoteCookieValue(`{"created": ${created}, "session": {${members.map(([name, raw]) => JSON.stringify(name) + ': ' + raw).join(', ')}}}`))
const anyValue = fc.oneof(base64Text, forged, fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }).map((text) => quoteCookieValue(text)))

for (const [name, make, authenticated] of kinds) {
  t.test(`${name}: property: arbitrary JSON-safe data round-trips exactly`, async (t) => {
    fakeDate(t, NOW)
    const storage = make()
    fc.assert(fc.property(sessionEntries, (entries) => {
      const session = new Session({ maxAge: 3600 })
      for (const [dataKey, value] of entries) session.set(dataKey, value as never)
      const opened = storage.open(storage.seal(session))
      // An empty session is written as {} (aiohttp's empty session), which loads as a new one.
      if (entries.length === 0) return assert.equal(opened, 'empty')
      assert.ok(typeof opened !== 'string', `opened: ${String(opened)}`)
      assert.deepStrictEqual(dataOf(opened), objectOf(entries))
      assert.equal(opened.created, NOW)
    }), propertyOptions())
    t.pass('held')
  })

  t.test(`${name}: property: arbitrary cookie values never throw${authenticated ? ' and never open' : ''}`, async (t) => {
    fakeDate(t, NOW)
    const storage = make()
    let loaded = 0
    fc.assert(fc.property(anyValue, (value) => {
      const opened = storage.open(value)
      if (typeof opened === 'string') return
      assert.ok(!authenticated, `${JSON.stringify(value)} opened`)
      loaded++
      // A forged Simple cookie loads what it says, which is what set() accepts (but
      // Python's non-finite floats), so it can be saved back.
      for (const [dataKey, item] of opened) {
        const problem = findNonJsonValue(item, dataKey)
        assert.ok(problem === undefined || ['NaN', 'Infinity', '-Infinity'].includes(problem.found))
      }
      opened.changed()
      storage.seal(opened)
    }), propertyOptions(5))
    t.pass(`held (${loaded} opened)`)
  })

  if (authenticated) {
    t.test(`${name}: property: a changed character in a genuine cookie opens nothing new`, async (t) => {
      fakeDate(t, NOW)
      const storage = make()
      const genuine = fc.tuple(sessionEntries, fc.nat(), fc.constantFrom(...'AB+/-_=x'.split(''))).map(([entries, position, replacement]) => {
        const session = new Session({ maxAge: 3600 })
        for (const [dataKey, value] of entries) session.set(dataKey, value as never)
        const sealed = storage.seal(session)
        const at = position % sealed.length
        return { entries, sealed, changed: sealed.slice(0, at) + replacement + sealed.slice(at + 1) }
      })
      let refused = 0
      fc.assert(fc.property(genuine, ({ entries, sealed, changed }) => {
        const opened = storage.open(changed)
        if (typeof opened === 'string') {
          refused++
          return
        }
        // Base64's last character may carry bits no byte uses: a spelling of the same bytes opens to the same data.
        assert.deepStrictEqual(Buffer.from(unquoteCookieValue(changed), 'base64'), Buffer.from(unquoteCookieValue(sealed), 'base64'), 'the same bytes')
        assert.deepStrictEqual(dataOf(opened), objectOf(entries))
      }), propertyOptions())
      t.ok(refused > 0, `${refused} refused; the rest spelled the same bytes`)
    })
  }
}
