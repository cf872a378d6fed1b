/**
 * Type tests of the public API, against the built package (`npm run build` first):
 * they import 'fastify-sessions' exactly as users do.
 */
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import sessionPlugin, {
  AbstractStorage, Session, SessionNotAvailableError, SimpleCookieStorage, fastifySessions, generateKey, getSession, newSession, saveSession
} from 'fastify-sessions'
import type { JsonSafe, LoadFromCookieHeaderOptions, NotJson, SessionData, SessionLogger, StorageOptions } from 'fastify-sessions'
import { EncryptedCookieStorage } from 'fastify-sessions/storages/encrypted-cookie'
import { NaClCookieStorage } from 'fastify-sessions/storages/nacl-cookie'
import { RedisStorage } from 'fastify-sessions/storages/redis'
import { MemcachedStorage } from 'fastify-sessions/storages/memcached'
import { Cluster, Redis } from 'ioredis'
import memjs from 'memjs'
import { describe, expect, test } from 'tstyche'

/** An interface (no index signature) of JSON fields, and a recursive one. */
interface Profile {
  name: string
  roles: string[]
  nick?: string
  address: { city: string, zip: string | null }
}
interface Tree {
  label: string
  children: Tree[]
}

declare module 'fastify-sessions' {
  interface SessionData {
    visits: number
    user: { id: string, roles: string[] }
    profile: Profile
    tree: Tree
    /** Declared, but not JSON: it can be neither set nor used as a Date. */
    lastSeen: Date
    lookup: Map<string, number>
  }
}

const app = Fastify()

describe('registration', () => {
  test('takes a storage as its options', () => {
    expect(app.register(sessionPlugin, new EncryptedCookieStorage(generateKey(), { maxAge: 3600 }))).type.not.toRaiseError()
    expect(app.register(fastifySessions, new NaClCookieStorage([generateKey(), Buffer.alloc(32)]))).type.not.toRaiseError()
    expect(app.register(sessionPlugin, new SimpleCookieStorage({ sameSite: 'Strict', secure: true }))).type.not.toRaiseError()
  })

  test('server-side storages take ioredis (Redis or Cluster) and memjs clients', () => {
    expect(new RedisStorage(new Redis({ lazyConnect: true }), { maxAge: 60, keyFactory: () => 'id', timeout: 500 })).type.not.toRaiseError()
    expect(new RedisStorage(new Cluster([]))).type.not.toRaiseError()
    expect(new MemcachedStorage(memjs.Client.create('127.0.0.1:11211'))).type.not.toRaiseError()
    expect(new RedisStorage(new Redis({ lazyConnect: true }), { keyFactory: () => 1 })).type.toRaiseError()
    expect(new RedisStorage({ get () {} })).type.toRaiseError()
  })

  test('server-side storages take a record size limit and a circuit breaker', () => {
    const redis = new Redis({ lazyConnect: true })
    expect(new RedisStorage(redis, { maxRecordBytes: 65536, circuitBreaker: { failureThreshold: 3, coolDown: 10000 } })).type.not.toRaiseError()
    expect(new MemcachedStorage(memjs.Client.create('127.0.0.1:11211'), { circuitBreaker: false })).type.not.toRaiseError()
    expect(new RedisStorage(redis, { circuitBreaker: {} })).type.not.toRaiseError()
    expect(new RedisStorage(redis, { circuitBreaker: { threshold: 3 } })).type.toRaiseError()
    expect(new RedisStorage(redis, { circuitBreaker: { coolDown: '5s' } })).type.toRaiseError()
    expect(new RedisStorage(redis, { maxRecordBytes: '1mb' })).type.toRaiseError()
  })

  test('rejects what is not a storage', () => {
    expect(app.register(sessionPlugin, { cookieName: 'x' })).type.toRaiseError()
  })

  test('storage options are checked', () => {
    expect(new SimpleCookieStorage({ sameSite: 'sometimes' })).type.toRaiseError()
    expect(new SimpleCookieStorage({ maxAge: '1h' })).type.toRaiseError()
    expect(new EncryptedCookieStorage(42)).type.toRaiseError()
    expect<StorageOptions>().type.toBeAssignableFrom({ cookieName: 'sid', maxAge: 60, httpOnly: true, partitioned: false, sameSite: false as const })
  })

  test('rolling: a boolean or { refreshAfter } in seconds, on every storage', () => {
    expect(new SimpleCookieStorage({ maxAge: 3600, rolling: true })).type.not.toRaiseError()
    expect(new EncryptedCookieStorage(generateKey(), { maxAge: 3600, rolling: { refreshAfter: 300 } })).type.not.toRaiseError()
    expect(new NaClCookieStorage(generateKey(), { maxAge: 3600, rolling: false })).type.not.toRaiseError()
    expect(new RedisStorage(new Redis({ lazyConnect: true }), { maxAge: 3600, rolling: { refreshAfter: 60 } })).type.not.toRaiseError()
    expect(new MemcachedStorage(memjs.Client.create('127.0.0.1:11211'), { maxAge: 3600, rolling: true })).type.not.toRaiseError()
    expect<StorageOptions>().type.toBeAssignableFrom({ maxAge: 3600, rolling: undefined })
    expect(new SimpleCookieStorage({ maxAge: 3600, rolling: 'yes' })).type.toRaiseError()
    expect(new SimpleCookieStorage({ maxAge: 3600, rolling: { refreshAfter: '5m' } })).type.toRaiseError()
    expect(new SimpleCookieStorage({ maxAge: 3600, rolling: { every: 60 } })).type.toRaiseError()
    expect(new SimpleCookieStorage({ maxAge: 3600, rolling: {} })).type.toRaiseError()
    expect(new SimpleCookieStorage().refreshAfter).type.toBe<number | undefined>()
  })
})

describe('request.session', () => {
  test('is a Session, with data typed by declaration merging', () => {
    app.get('/', async (request) => {
      expect(request.session).type.toBe<Session>()
      expect(request.session.get('visits')).type.toBe<number | undefined>()
      expect(request.session.get('user')).type.toBe<{ id: string, roles: string[] } | undefined>()
      expect(request.session.get('anything else')).type.toBe<unknown>()
      expect(request.session.set('visits', 1)).type.toBe<Session>()
      expect(request.session.set('visits', 'one')).type.toRaiseError()
      expect(request.session.set('visits', undefined)).type.toBe<Session>()
      expect(request.session.isNew).type.toBe<boolean>()
      expect(request.session.identity).type.toBe<string | null>()
      expect(request.session.maxAge).type.toBe<number | undefined>()
      expect(request.session.toJSON()).type.toBe<Partial<SessionData>>()
      expect(request.newSession()).type.toBe<Session>()
      expect(request.session.regenerate(['visits'])).type.toBe<void>()
      return 'ok'
    })
  })

  test('is read-only', () => {
    app.get('/', async (request) => {
      // request.session cannot be replaced; request.newSession() does that
      // @ts-expect-error Cannot assign to 'session' because it is a read-only property
      request.session = new Session()
    })
  })

  test('aiohttp-style functions', () => {
    app.get('/', async (request) => {
      expect(getSession(request)).type.toBe<Promise<Session>>()
      expect(newSession(request)).type.toBe<Promise<Session>>()
    })
  })

  test('saving now, where there is no reply (websocket routes)', () => {
    app.get('/', async (request) => {
      expect(request.saveSession()).type.toBe<Promise<void>>()
      expect(saveSession(request)).type.toBe<Promise<void>>()
      expect(request.saveSession(true)).type.toRaiseError()
    })
  })

  test('routes opt out with config.session', () => {
    expect(app.get('/health', { config: { session: false } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/health', { config: { session: 'no' } }, async () => 'ok')).type.toRaiseError()
  })
})

describe('values must survive JSON', () => {
  const session = new Session()
  type DateReason = 'Date is not JSON: store a string or number'

  test('JSON types are accepted, interfaces and recursive types included', () => {
    expect(session.set('profile', { name: 'ann', roles: ['admin'], address: { city: 'Oslo', zip: null } })).type.toBe<Session>()
    expect(session.get('profile')).type.toBe<Profile | undefined>()
    expect(session.get('profile')?.roles.map((role) => role.length)).type.toBe<number[] | undefined>()
    expect(session.set('tree', { label: 'a', children: [{ label: 'b', children: [] }] })).type.toBe<Session>()
    expect(session.get('tree')?.children[0]?.children).type.toBe<Tree[] | undefined>()
    const profile: Profile = { name: 'bo', roles: [], address: { city: 'Rome', zip: '00100' } }
    expect(session.set('anything', profile)).type.toBe<Session>()
    expect(session.set('anything', { a: [1, 'x', null, true, { b: 2.5 }], c: undefined })).type.toBe<Session>()
    expect(session.set('anything', [profile, [1, 2]] as const)).type.toBe<Session>()
  })

  test('unknown and any pass: only the run-time check can tell', () => {
    expect(session.get('anything')).type.toBe<unknown>()
    expect(session.set('anything', JSON.parse('1') as unknown)).type.toBe<Session>()
    expect(session.set('anything', JSON.parse('1'))).type.toBe<Session>()
  })

  test('a declared key keeps its type: wrong types and excess properties are errors', () => {
    expect(session.set('profile', { name: 'ann', roles: [], address: { city: 'x', zip: null }, extra: 1 })).type.toRaiseError("'extra' does not exist in type 'Profile'")
    expect(session.set('visits', '1')).type.toRaiseError("Argument of type 'string' is not assignable to parameter of type 'number'")
  })

  test('a declared Date can neither be set nor used as a Date', () => {
    expect(session.set('lastSeen', new Date())).type.toRaiseError('Argument of type \'Date\' is not assignable to parameter of type \'NotJson<"Date is not JSON: store a string or number">\'')
    expect(session.get('lastSeen')?.getTime()).type.toRaiseError('Property \'getTime\' does not exist on type \'NotJson<"Date is not JSON: store a string or number">\'')
    expect(session.get('lastSeen')).type.toBe<NotJson<DateReason> | undefined>()
    expect(session.get('lookup')?.get('a')).type.toRaiseError("Property 'get' does not exist on type 'NotJson<\"Map is not JSON: store an object (Object.fromEntries)\">'")
    expect(session.set('lastSeen', new Date().toISOString())).type.toRaiseError()
  })

  test('values whose type is not JSON are refused for any key', () => {
    expect(session.set('anything', new Date())).type.toRaiseError('Date is not JSON: store a string or number')
    expect(session.set('anything', { user: { lastSeen: new Date() } })).type.toRaiseError('Date is not JSON: store a string or number')
    expect(session.set('anything', new Map([['a', 1]]))).type.toRaiseError('Map is not JSON: store an object (Object.fromEntries)')
    expect(session.set('anything', new Set([1]))).type.toRaiseError('Set is not JSON: store an array')
    expect(session.set('anything', () => 1)).type.toRaiseError('a function is not JSON: store data')
    expect(session.set('anything', { greet () {} })).type.toRaiseError('a function is not JSON: store data')
    expect(session.set('anything', 1n)).type.toRaiseError('bigint is not JSON: store a string')
    expect(session.set('anything', Symbol('s'))).type.toRaiseError('symbol is not JSON: store a string')
    expect(session.set('anything', [1, undefined])).type.toRaiseError('undefined in an array is not JSON: store null')
  })

  test('JsonSafe is T itself when T survives JSON', () => {
    expect<JsonSafe<Profile>>().type.toBe<Profile>()
    expect<JsonSafe<{ at: Date, n: number }>>().type.toBe<{ at: NotJson<DateReason>, n: number }>()
    expect<JsonSafe<unknown>>().type.toBe<unknown>()
  })
})

describe('custom storages', () => {
  test('subclass AbstractStorage', () => {
    class Custom extends AbstractStorage {
      override async loadSession (request: FastifyRequest): Promise<Session> {
        const value = this.loadCookie(request)
        if (value === undefined) return this.newSession()
        const session = this.decodeSession(value)
        return typeof session === 'string' ? this.rejectSession(request, session) : session
      }

      override saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): void {
        this.saveCookie(reply, this.encodeSession(session), session.maxAge)
      }
    }
    expect(app.register(sessionPlugin, new Custom({ cookieName: 'custom' }))).type.not.toRaiseError()
  })

  test('saveSession gets no reply where none can carry a cookie', () => {
    class ServerSide extends AbstractStorage {
      override loadSession (): Session {
        return this.newSession()
      }

      override saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): void {
        if (reply === undefined) throw new SessionNotAvailableError('a new id needs a reply')
        this.saveCookie(reply, this.encodeSession(session), session.maxAge)
      }
    }
    expect(app.register(sessionPlugin, new ServerSide())).type.not.toRaiseError()
  })

  test('must implement both methods', () => {
    // @ts-expect-error Non-abstract class 'Incomplete' does not implement inherited abstract member saveSession
    class Incomplete extends AbstractStorage {
      override loadSession (): Session {
        return this.newSession()
      }
    }
    expect(Incomplete).type.not.toBe<never>()
  })
})

describe('loadSessionFromCookieHeader', () => {
  const storage = new SimpleCookieStorage()

  test('takes a Cookie header or undefined, and gives a promised Session', () => {
    expect(storage.loadSessionFromCookieHeader('AIOHTTP_SESSION=x; theme=dark')).type.toBe<Promise<Session>>()
    expect(storage.loadSessionFromCookieHeader(undefined)).type.toBe<Promise<Session>>()
    expect(new RedisStorage(new Redis({ lazyConnect: true })).loadSessionFromCookieHeader('x')).type.toBe<Promise<Session>>()
    expect(storage.loadSessionFromCookieHeader(42)).type.toRaiseError()
  })

  test('logs through Fastify\'s logger, or console, or nothing', () => {
    expect(storage.loadSessionFromCookieHeader('x', { logger: app.log })).type.not.toRaiseError()
    expect(storage.loadSessionFromCookieHeader('x', { logger: console })).type.not.toRaiseError()
    expect(storage.loadSessionFromCookieHeader('x', {})).type.not.toRaiseError()
    expect(storage.loadSessionFromCookieHeader('x', { logger: { warn () {} } })).type.toRaiseError()
    expect<SessionLogger>().type.toBeAssignableFrom(app.log)
    expect<LoadFromCookieHeaderOptions>().type.toBeAssignableFrom({ logger: undefined })
  })
})
