/**
 * storage.loadSessionFromCookieHeader(header, { logger }): the session a Cookie header
 * names, where there is no Fastify request (a raw ws server, socket.io, a worker), with
 * the rules of a request: for every storage, a valid cookie loads; an expired, garbage,
 * unknown or foreign one gives a new session and one line through the logger, never an
 * error; without a logger nothing is logged anywhere.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import type { Test } from 'tap'
import { SimpleCookieStorage, generateKey } from '../index.js'
import type { AbstractStorage, Session, SessionLogger, StorageOptions } from '../index.js'
import { EncryptedCookieStorage } from '../storages/encrypted-cookie.js'
import { NaClCookieStorage } from '../storages/nacl-cookie.js'
import { RedisStorage } from '../storages/redis.js'
import { buildApp } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { cookiePair } from './helpers/cookies.js'
import { MemoryStorage } from './helpers/memory-storage.js'
import { startRedis } from './helpers/servers.js'
import { storeRoutes } from './helpers/store-routes.js'
import { storeBackends } from './helpers/stores.js'

const NOW = 1_700_000_000
const KEY = generateKey()

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

interface Kind {
  name: string
  storage: (options?: StorageOptions) => AbstractStorage
  /** A cookie value this storage cannot use, the reason it logs, and at which level. */
  garbage: [string, RegExp | string, 'debug' | 'warn']
  hasIdentity: boolean
}

const kinds: Kind[] = [
  { name: 'SimpleCookieStorage', storage: (options) => new SimpleCookieStorage(options), garbage: ['{"created": 1', 'the payload could not be decoded (not JSON?)', 'warn'], hasIdentity: false },
  { name: 'EncryptedCookieStorage', storage: (options) => new EncryptedCookieStorage(KEY, options), garbage: ['garbage', /^not a Fernet token/, 'warn'], hasIdentity: false },
  { name: 'NaClCookieStorage', storage: (options) => new NaClCookieStorage(KEY, options), garbage: ['garbage', /^not a NaCl box/, 'warn'], hasIdentity: false },
  ...backends.map((backend): Kind => ({
    name: backend.name,
    storage: (options) => backend.storage(options),
    garbage: ['"an id"', 'the cookie is not a valid session id (only visible ASCII characters are allowed, no spaces or control characters)', 'warn'],
    hasIdentity: true
  })),
  { name: 'a custom storage (loadSession(request) only)', storage: (options) => new MemoryStorage(options), garbage: ['id404', 'unknown or expired id', 'debug'], hasIdentity: true }
]

interface Line { level: 'debug' | 'warn', message: string, [detail: string]: unknown }

/** A logger that keeps its lines. */
function recorder (): { logger: SessionLogger, lines: Line[] } {
  const lines: Line[] = []
  return {
    lines,
    logger: {
      debug (details, message) { lines.push({ level: 'debug', message, ...details }) },
      warn (details, message) { lines.push({ level: 'warn', message, ...details }) }
    }
  }
}

/** The cookie pair a storage's app sets for a session holding `data`. */
async function cookieFor (t: Test, storage: AbstractStorage, data: object): Promise<string> {
  const { app } = await buildApp(t, storage, storeRoutes)
  return cookiePair(await app.inject({ method: 'POST', url: '/set', payload: data })) as string
}

function state (session: Session): object {
  return { data: session.toJSON(), isNew: session.isNew, hasIdentity: session.identity !== null }
}

const message = 'fastify-sessions: the session cookie was not used; starting a new session'

for (const kind of kinds) {
  t.test(`${kind.name}: the rules of a request, from a Cookie header`, async (t) => {
    const clock = fakeDate(t, NOW)
    const storage = kind.storage({ maxAge: 60 })
    const cookie = await cookieFor(t, storage, { user: 'ann' })
    const { logger, lines } = recorder()

    const loaded = await storage.loadSessionFromCookieHeader(`theme=dark; ${cookie}; lang=en`, { logger })
    t.same(state(loaded), { data: { user: 'ann' }, isNew: false, hasIdentity: kind.hasIdentity }, 'a valid cookie loads')
    if (kind.hasIdentity) t.equal(`AIOHTTP_SESSION=${loaded.identity}`, cookie, 'under the id the cookie holds')
    t.same(lines, [], 'and logs nothing')

    for (const header of [undefined, '', 'theme=dark']) {
      t.same(state(await storage.loadSessionFromCookieHeader(header, { logger })), { data: {}, isNew: true, hasIdentity: false }, `no cookie (${String(header)}): a new session`)
    }
    t.same(lines, [], 'quietly')

    const [garbage, reason, level] = kind.garbage
    const refused = await storage.loadSessionFromCookieHeader(`AIOHTTP_SESSION=${garbage}`, { logger })
    t.same(state(refused), { data: {}, isNew: true, hasIdentity: false }, 'an unusable cookie: a new session')
    t.match(lines.splice(0), [{ level, message, cookieName: 'AIOHTTP_SESSION', reason }], 'and one line with the reason')

    clock.tick(61_000)
    const expired = await storage.loadSessionFromCookieHeader(cookie, { logger })
    t.same(state(expired), { data: {}, isNew: true, hasIdentity: false }, 'an expired session: a new session')
    t.match(lines.splice(0), [{ level: 'debug', message, reason: 'expired' }], 'logged at debug: it is routine')

    const value = cookie.slice(cookie.indexOf('=') + 1)
    t.notOk(JSON.stringify(lines).includes(value), 'the cookie itself is never logged')
  })

  t.test(`${kind.name}: without a logger, nothing is logged anywhere`, async (t) => {
    const storage = kind.storage()
    const calls: string[] = []
    for (const method of ['log', 'debug', 'info', 'warn', 'error'] as const) {
      const original = console[method]
      console[method] = () => { calls.push(method) }
      t.teardown(() => { console[method] = original })
    }
    const session = await storage.loadSessionFromCookieHeader(`AIOHTTP_SESSION=${kind.garbage[0]}`)
    t.same(state(session), { data: {}, isNew: true, hasIdentity: false })
    t.same(calls, [])
  })
}

for (const [name, Storage] of [['EncryptedCookieStorage', EncryptedCookieStorage], ['NaClCookieStorage', NaClCookieStorage]] as const) {
  t.test(`${name}: another key's cookie is refused with a warning; a rotated key's loads`, async (t) => {
    const old = generateKey()
    const cookie = await cookieFor(t, new Storage(old), { user: 'ann' })
    const { logger, lines } = recorder()

    const foreign = await new Storage(KEY).loadSessionFromCookieHeader(cookie, { logger })
    t.same(state(foreign), { data: {}, isNew: true, hasIdentity: false })
    t.match(lines.splice(0), [{ level: 'warn', message, reason: 'authentication failed (wrong key or tampered cookie)' }])

    const rotated = await new Storage([KEY, old]).loadSessionFromCookieHeader(cookie, { logger })
    t.same(state(rotated), { data: { user: 'ann' }, isNew: false, hasIdentity: false })
    t.same(lines, [])
  })
}

t.test('a store that cannot be read rejects: an outage is not a bad cookie', async (t) => {
  const server = await startRedis(t)
  const client = new Redis({ host: '127.0.0.1', port: server.port })
  const storage = new RedisStorage(client)
  const cookie = await cookieFor(t, storage, { user: 'ann' })
  client.disconnect()
  await t.rejects(storage.loadSessionFromCookieHeader(cookie), { name: 'SessionStorageError', code: 'FST_SESSIONS_STORAGE' })
})

t.test('a custom storage whose loadSession returns no Session rejects', async (t) => {
  class Broken extends MemoryStorage {
    override async loadSession (): Promise<Session> {
      return 'nope' as unknown as Session
    }
  }
  await t.rejects(new Broken().loadSessionFromCookieHeader('AIOHTTP_SESSION=id1'), {
    name: 'InvalidSessionError',
    message: 'fastify-sessions: Broken.loadSession() must return a Session; it returned a string of 4 characters'
  })
})
