/**
 * Type tests of the public API, against the built package (`npm run build` first):
 * they import 'fastify-sessions' exactly as users do.
 */
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import sessionPlugin, {
  AbstractStorage, Session, SimpleCookieStorage, fastifySessions, generateKey, getSession, newSession
} from 'fastify-sessions'
import type { SessionData, StorageOptions } from 'fastify-sessions'
import { EncryptedCookieStorage } from 'fastify-sessions/storages/encrypted-cookie'
import { NaClCookieStorage } from 'fastify-sessions/storages/nacl-cookie'
import { RedisStorage } from 'fastify-sessions/storages/redis'
import { MemcachedStorage } from 'fastify-sessions/storages/memcached'
import { Cluster, Redis } from 'ioredis'
import memjs from 'memjs'
import { describe, expect, test } from 'tstyche'

declare module 'fastify-sessions' {
  interface SessionData {
    visits: number
    user: { id: string, roles: string[] }
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

  test('rejects what is not a storage', () => {
    expect(app.register(sessionPlugin, { cookieName: 'x' })).type.toRaiseError()
  })

  test('storage options are checked', () => {
    expect(new SimpleCookieStorage({ sameSite: 'sometimes' })).type.toRaiseError()
    expect(new SimpleCookieStorage({ maxAge: '1h' })).type.toRaiseError()
    expect(new EncryptedCookieStorage(42)).type.toRaiseError()
    expect<StorageOptions>().type.toBeAssignableFrom({ cookieName: 'sid', maxAge: 60, httpOnly: true, partitioned: false, sameSite: false as const })
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

  test('routes opt out with config.session', () => {
    expect(app.get('/health', { config: { session: false } }, async () => 'ok')).type.not.toRaiseError()
    expect(app.get('/health', { config: { session: 'no' } }, async () => 'ok')).type.toRaiseError()
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
