/**
 * The cross-service flows every storage must pass against the real aiohttp-session,
 * run in both directions: a browser carries the cookie from one service to the other.
 * Each storage's test file starts both services and calls `interopSuite`.
 *
 * Where aiohttp-session behaves differently from us by design (SPEC §3) or by a
 * limitation of its own, the assertion states what the Python side really does, so a
 * change on either side fails a test.
 */
import type { Test } from 'tap'
import { isSessionLine } from '../helpers/app.js'
import { SESSION_COOKIE, findSetCookie } from '../helpers/cookies.js'
import { Browser } from './browser.js'
import type { FastifyService } from './fastify-service.js'
import { pythonRepr } from './python-service.js'
import type { PythonService, PythonStorageKind } from './python-service.js'
import type { Service, SessionView } from './service.js'
import { HOSTILE_VALUES, PYTHON_TYPES } from './values.js'

export interface InteropSetup {
  kind: PythonStorageKind
  python: PythonService
  fastify: FastifyService
  /** The max_age both services were given (seconds). */
  maxAge: number
  /** Reads the raw server-side record of a session id (store-backed storages). */
  readRecord?: (id: string) => Promise<string | null>
}

export function isStoreBacked (kind: PythonStorageKind): boolean {
  return kind === 'redis' || kind === 'memcached'
}

/** Unix seconds now; flows that compare ages pin both services to instants from here. */
export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/** A forged variant of a cookie value: one base64/hex character changed in the middle. */
export function flipCharacter (value: string): string {
  for (let index = Math.floor(value.length / 2); index < value.length; index++) {
    const char = value[index] as string
    if (/[A-Za-z0-9]/.test(char)) {
      const replacement = char === 'a' ? 'b' : char === 'A' ? 'B' : char === '0' ? '1' : /[0-9]/.test(char) ? '0' : /[a-z]/.test(char) ? 'a' : 'A'
      return value.slice(0, index) + replacement + value.slice(index + 1)
    }
  }
  throw new Error('nothing to flip in ' + value)
}

/** The `name=value` length of a Set-Cookie, what browsers limit to 4096 bytes. */
function pairLength (setCookies: readonly string[]): number {
  const cookie = findSetCookie(setCookies)
  return cookie === undefined ? 0 : Buffer.byteLength(cookie.pair)
}

/** A large value that still needs Python's escaping: quotes, commas, unicode. */
function filler (length: number): string {
  return 'é"\\,;😀' + 'x'.repeat(length)
}

export function interopSuite (t: Test, setup: InteropSetup): void {
  const { kind, python, fastify, maxAge } = setup
  const storeBacked = isStoreBacked(kind)
  const directions: Array<[Service, Service]> = [[python, fastify], [fastify, python]]

  /** What aiohttp-session reports for a session cookie that its max_age has expired. */
  function pythonExpired (t: Test, view: SessionView, identity: string | null): void {
    t.equal(view.empty, true, 'aiohttp drops the expired data')
    // Fernet's ttl check rejects the whole token (a new session); the envelope check
    // in Session.__init__ only drops the data: new stays False, the identity is kept.
    t.equal(view.new, kind === 'encrypted', kind === 'encrypted' ? 'Fernet ttl: a new session' : 'envelope expiry: aiohttp keeps new=False')
    t.equal(view.identity, identity)
  }

  for (const [from, to] of directions) {
    t.test(`values written by ${from.name} are read intact by ${to.name}`, async (t) => {
      const browser = new Browser()
      const written = await browser.write(from, '/set', HOSTILE_VALUES)
      t.same(written.session, HOSTILE_VALUES, `${from.name} holds the values`)
      const read = await browser.read(to)
      t.same(read.session, HOSTILE_VALUES, `${to.name} reads the same values`)
      t.equal(read.new, false, `${to.name} loaded a stored session`)
      t.equal(read.created, written.created, 'created travels in the envelope')
      if (to === python) t.same(read.types, PYTHON_TYPES, 'numbers keep their Python type (int or float)')
      if (storeBacked) t.equal(read.identity, browser.value(), 'both use the cookie value as the identity')
      t.same((await browser.read(from)).session, HOSTILE_VALUES, `${from.name} still reads them`)
    })

    if (!storeBacked) {
      t.test(`a cookie near the 4096-byte limit written by ${from.name} is read intact by ${to.name}`, async (t) => {
        // The longest filler whose Set-Cookie name=value still fits in 4096 bytes
        // (our side refuses to write more; Python writes anything, browsers drop it).
        const size = async (length: number): Promise<number> => {
          const reply = await new Browser().post(from, '/set', { big: filler(length) })
          return reply.status === 200 ? pairLength(reply.setCookies) : Infinity
        }
        let low = 0
        let high = 4096
        while (high - low > 1) {
          const middle = Math.floor((low + high) / 2)
          if (await size(middle) <= 4096) low = middle
          else high = middle
        }
        const browser = new Browser()
        const reply = await browser.post(from, '/set', { big: filler(low) })
        const length = pairLength(reply.setCookies)
        t.ok(length > 4096 - 64 && length <= 4096, `the cookie is ${length} bytes`)
        const read = await browser.read(to)
        t.equal(read.session['big'], filler(low), `${to.name} reads it intact`)
      })
    } else {
      t.test(`a large session written by ${from.name} is read intact by ${to.name}`, async (t) => {
        // Only the id travels in the cookie; the record has no 4096-byte limit.
        const browser = new Browser()
        await browser.write(from, '/set', { big: filler(200_000) })
        t.equal((await browser.read(to)).session['big'], filler(200_000))
      })
    }

    t.test(`set on ${from.name}, modified on ${to.name}, read back on ${from.name}`, async (t) => {
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'ann', cart: ['apple'] })
      t.same((await browser.read(to)).session, { user: 'ann', cart: ['apple'] })
      await browser.write(to, '/set', { cart: ['apple', 'pear'], seenBy: to.name })
      const modified = await browser.write(to, '/delete', ['user'])
      t.same(modified.session, { cart: ['apple', 'pear'], seenBy: to.name })
      const back = await browser.read(from)
      t.same(back.session, { cart: ['apple', 'pear'], seenBy: to.name }, `${from.name} sees the changes`)
      t.equal(back.created, modified.created, `${from.name} sees the created time ${to.name} wrote`)
      t.equal(back.new, false)
    })

    t.test(`login on ${to.name} replaces the session started on ${from.name}`, async (t) => {
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'anonymous', tracking: 'abc' })
      const oldCookie = browser.value() as string
      const loggedIn = await browser.write(to, '/login', { user: 'bob' })
      t.equal(loggedIn.new, true, `${to.name} starts a new session`)
      t.not(browser.value(), oldCookie, 'the browser got a new cookie')
      for (const service of [from, to]) {
        const view = await browser.read(service)
        t.same(view.session, { user: 'bob' }, `${service.name} sees only the new session`)
        if (storeBacked) t.not(view.identity, oldCookie, `${service.name}: a new identity`)
      }

      // A client that kept the old cookie replays it.
      const replay = Browser.holding(oldCookie)
      for (const service of [from, to]) {
        const view = await replay.read(service)
        if (storeBacked && to === fastify) {
          t.same(view, { new: true, created: view.created, identity: null, empty: true, session: {}, ...typesOf(service) },
            `${service.name}: the old id is gone (we delete its record)`)
        } else {
          // Cookie storages cannot revoke a cookie, and aiohttp's new_session() leaves
          // the old record in the store: the old session is still readable.
          t.same(view.session, { user: 'anonymous', tracking: 'abc' },
            `${service.name}: the old ${storeBacked ? 'record survives aiohttp new_session()' : 'cookie cannot be revoked'}`)
        }
      }
    })

    t.test(`logout on ${to.name} ends the session started on ${from.name} on both`, async (t) => {
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'ann' })
      const oldCookie = browser.value() as string
      const loggedOut = await browser.write(to, '/logout')
      t.equal(loggedOut.empty, true)
      if (kind === 'simple' && to === python) {
        t.equal(browser.value(), '"{}"', 'aiohttp SimpleCookieStorage writes {} instead of deleting')
      } else {
        t.equal(browser.value(), undefined, 'the cookie was deleted')
      }
      for (const service of [from, to]) {
        const view = await browser.read(service)
        t.equal(view.empty, true, `${service.name}: no data`)
        t.equal(view.new, true, `${service.name}: a new session`)
      }
      if (storeBacked) {
        const record = await setup.readRecord?.(oldCookie)
        t.equal(record, to === python ? '{}' : null, to === python ? 'aiohttp overwrites the record with {}' : 'we delete the record')
        // Replaying the old id must not revive it, and must not be adopted as the id
        // of the next session (session fixation).
        for (const service of [from, to]) {
          const replay = Browser.holding(oldCookie)
          const view = await replay.read(service)
          t.same([view.new, view.empty, view.identity], [true, true, null], `${service.name}: the old id gives a new session`)
          await replay.write(service, '/set', { user: 'mallory' })
          t.not(replay.value(), oldCookie, `${service.name}: the next session gets a fresh id`)
        }
      }
    })

    t.test(`a session written by ${from.name} expires after max_age on both`, async (t) => {
      const start = nowSeconds()
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'ann' }, { clock: start })
      const identity = storeBacked ? browser.value() as string : null
      for (const service of [from, to]) {
        const view = await browser.read(service, '/get', { clock: start + maxAge })
        t.same(view.session, { user: 'ann' }, `${service.name}: still valid when age == max_age`)
      }
      for (const service of [from, to]) {
        const reply = await browser.get(service, '/get', { clock: start + maxAge + 1 })
        const view = reply.body as SessionView
        t.same(reply.setCookies, [], `${service.name}: reading an expired session writes nothing`)
        if (service === python) {
          pythonExpired(t, view, identity)
        } else {
          t.same([view.new, view.empty, view.identity], [true, true, null], 'fastify: a new session')
        }
      }
    })

    t.test(`a tampered cookie from ${from.name} gives a new empty session on both`, async (t) => {
      const browser = new Browser()
      await browser.write(from, '/set', { user: 'ann', role: 'user' })
      const genuine = browser.value() as string
      // Simple cookies are plain JSON (anyone can forge valid ones, by design); the
      // damage a tampering client can do there is to break the JSON.
      const tampered = kind === 'simple' ? genuine.replace('}}', '}') : flipCharacter(genuine)
      browser.setValue(SESSION_COOKIE, tampered)

      const ours = await browser.get(fastify, '/get')
      t.equal(ours.status, 200, 'fastify never answers 500 for a bad cookie')
      t.same(ours.setCookies, [], 'fastify writes nothing for it')
      const view = ours.body as SessionView
      t.same([view.new, view.empty, view.identity], [true, true, null], 'fastify: a new empty session')
      if (!storeBacked) {
        t.match(ours.logLines.filter(isSessionLine), [{ level: 40 }], 'fastify logs a warning')
      }

      const logLength = python.stderr.length
      const theirs = await browser.get(python, '/get')
      if (kind === 'simple') {
        t.equal(theirs.status, 500, 'aiohttp SimpleCookieStorage fails with 500 on bad JSON')
      } else {
        const view = theirs.body as SessionView
        t.same([view.new, view.empty, view.identity], [true, true, null], 'aiohttp: a new empty session')
        if (!storeBacked) t.ok(await python.waitForLog('Cannot decrypt cookie value', logLength), 'aiohttp logs its warning')
      }
    })
  }

  if (storeBacked) {
    t.test('a write by aiohttp between our load and our save is merged into ours, not overwritten', async (t) => {
      const browser = new Browser()
      await browser.write(fastify, '/set', { user: 'ann' })
      const cookie = browser.cookieHeader('/')!
      // Hold our request between its load and its save; aiohttp writes meanwhile (values
      // JSON.parse cannot keep: the float 1.0 and 2**64 + 1); then ours saves.
      const ours = fastify.app.inject({ method: 'POST', url: '/race/hold/between', headers: { cookie }, payload: [['set', 'cart', [1]]] })
      await fastify.holds.reached('between')
      await browser.post(python, '/special', { one: 'float-one', big: 'big-int' })
      fastify.holds.release('between')
      t.equal((await ours).statusCode, 200)
      t.same(await pythonRepr(python, browser), { user: "'ann'", one: '1.0', big: '18446744073709551617', cart: '[1]' },
        'aiohttp reads its own values exactly, and our change beside them')
      t.same((await browser.read(fastify)).session, { user: 'ann', one: 1, big: 2 ** 64, cart: [1] })
    })
  }
}

/** The `types` field only the aiohttp side reports, for whole-view comparisons. */
function typesOf (service: Service): { types?: Record<string, string> } {
  return service.name === 'aiohttp' ? { types: {} } : {}
}
