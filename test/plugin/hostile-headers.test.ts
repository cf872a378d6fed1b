/**
 * Arbitrary Cookie headers, garbage mixed with the real cookies of a few users, through
 * the plugin and every storage (Redis and Memcached against real servers): never a 5xx,
 * and the session a request gets is the one of the cookie it sent, or a new one; never
 * another user's. Property-based (fast-check, seed fixed in test/helpers/property.ts).
 *
 * Which cookie a header sends is decided by the header's model
 * (test/helpers/cookie-model.ts), not by the code under test: the last
 * `AIOHTTP_SESSION=` pair, unquoted as Python does.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { readEnvelope } from '../../lib/wire/envelope.js'
import { parsePythonJson } from '../../lib/wire/python-json.js'
import { buildApp } from '../helpers/app.js'
import { lastCookieValue, pythonUnquote } from '../helpers/cookie-model.js'
import { SESSION_COOKIE, cookieValue } from '../helpers/cookies.js'
import { everyStorage } from '../helpers/every-storage.js'
import type { StorageUnderTest } from '../helpers/every-storage.js'
import { anyUnit } from '../helpers/json-data.js'
import { propertyOptions } from '../helpers/property.js'

const storages = await everyStorage(t)
const USERS = 3

function routes (app: FastifyInstance): void {
  app.post('/login', async (request) => {
    const { user, secret } = request.body as { user: string, secret: string }
    request.newSession().set('user', user).set('secret', secret)
    return { ok: true }
  })
  app.get('/read', async (request) => ({ isNew: request.session.isNew, data: JSON.stringify(request.session.toJSON()) }))
}

interface User {
  data: { user: string, secret: string }
  /** The cookie's value as the server sent it (Python's quoted form where it needs one). */
  value: string
}

/**
 * The data the cookie value `sent` must give, when it is no user's own value. Sealed
 * cookies: another spelling of a user's bytes (base64's last character may carry bits no
 * byte uses) opens to that user's data; anything else opens nothing. Simple cookies say
 * what they hold: whatever envelope they spell. Ids: nothing (no other record exists).
 */
function expectedForOther (storage: StorageUnderTest, sent: string, users: readonly User[]): object | undefined {
  const unquoted = pythonUnquote(sent)
  if (storage.cookie === 'sealed') {
    const sameBytes = users.find(({ value }) => /^[A-Za-z0-9\-_+/]+={0,2}$/.test(unquoted) && unquoted.length % 4 === 0 &&
      Buffer.from(unquoted, 'base64').equals(Buffer.from(pythonUnquote(value), 'base64')))
    return sameBytes?.data
  }
  if (storage.cookie === 'id') return undefined
  try {
    const loaded = readEnvelope(parsePythonJson(Buffer.from(unquoted, 'latin1').toString('utf8')), undefined, Math.floor(Date.now() / 1000))
    return typeof loaded === 'string' || Object.keys(loaded.data).length === 0 ? undefined : loaded.data
  } catch {
    return undefined
  }
}

/** Changes one character, cuts the end or adds to it. */
const damage = fc.tuple(fc.nat(), fc.constantFrom('flip', 'cut', 'append'), fc.constantFrom(...'AaZ09+/-_="\\ '.split('')))

/** What HTTP carries in a header (visible ASCII, space, tab, obs-text) and, rarely, what it does not. */
const headerUnit = fc.oneof(
  { arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)), weight: 6 },
  { arbitrary: fc.constantFrom('\t', ';', '=', '"', '\\', SESSION_COOKIE, `${SESSION_COOKIE}=`), weight: 3 },
  { arbitrary: fc.integer({ min: 0x80, max: 0xff }).map((code) => String.fromCharCode(code)), weight: 1 },
  { arbitrary: anyUnit, weight: 1 }
)

for (const storage of storages) {
  t.test(`${storage.name}: property: arbitrary Cookie headers never give a 5xx or another user's session`, async (t) => {
    const { app } = await buildApp(t, storage.storage(), routes)
    const users: User[] = []
    for (let index = 0; index < USERS; index++) {
      const data = { user: `user-${index}`, secret: `secret-${index}` }
      const login = await app.inject({ method: 'POST', url: '/login', payload: data })
      users.push({ data, value: cookieValue(login) })
    }

    const real = fc.nat({ max: USERS - 1 }).map((index) => (users[index] as User).value)
    const damaged = fc.tuple(real, damage).map(([value, [position, kind, character]]) => {
      const at = position % value.length
      if (kind === 'cut') return value.slice(0, at)
      if (kind === 'append') return value + character
      return value.slice(0, at) + character + value.slice(at + 1)
    })
    const garbage = fc.string({ unit: headerUnit, maxLength: 30 })
    const pair = fc.tuple(fc.constantFrom('', ' ', '\t'), fc.oneof(real, damaged, garbage), fc.constantFrom('', ' '))
      .map(([before, value, after]) => `${before}${SESSION_COOKIE}=${value}${after}`)
    const piece = fc.oneof(pair, garbage, fc.constantFrom('other=1', `x="${SESSION_COOKIE}=forged"`, `X${SESSION_COOKIE}=1`, ''))
    const header = fc.array(piece, { maxLength: 5 }).chain((pieces) => fc.constantFrom(pieces.join(';'), pieces.join('; ')))

    let theirs = 0
    let fresh = 0
    await fc.assert(fc.asyncProperty(header, async (cookie) => {
      const response = await app.inject({ url: '/read', headers: { cookie } })
      assert.ok(response.statusCode < 500, `${response.statusCode}: ${response.body}`)
      const { isNew, data } = response.json() as { isNew: boolean, data: string }
      const sent = lastCookieValue(cookie, SESSION_COOKIE)
      const owner = sent === undefined ? undefined : users.find(({ value }) => pythonUnquote(value) === pythonUnquote(sent))
      const expected = sent === undefined ? undefined : owner?.data ?? expectedForOther(storage, sent, users)
      assert.deepStrictEqual(JSON.parse(data), expected ?? {}, `the session of the cookie sent: ${JSON.stringify(sent)}`)
      assert.equal(isNew, expected === undefined)
      if (owner !== undefined) theirs++
      else fresh++
    }), propertyOptions(0.5))
    t.ok(theirs > 0 && fresh > 0, `${theirs} headers sent a user's own cookie, ${fresh} none or another`)
  })
}
