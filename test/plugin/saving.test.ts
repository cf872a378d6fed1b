import { Readable } from 'node:stream'
import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import t from 'tap'
import sessionPlugin, {
  AbstractStorage, Session, SessionConfigError, SimpleCookieStorage, generateKey, getSession, newSession
} from '../../index.js'
import type { StorageOptions } from '../../index.js'
import { EncryptedCookieStorage } from '../../storages/encrypted-cookie.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { MemoryStorage } from '../helpers/memory-storage.js'

/** An EncryptedCookieStorage that counts the cryptographic work it does. */
class CountingStorage extends EncryptedCookieStorage {
  opened = 0
  sealed = 0
  cookieReads = 0

  constructor (options: StorageOptions = {}) {
    super(generateKey(), options)
  }

  override loadCookie (request: FastifyRequest): string | undefined {
    this.cookieReads++
    return super.loadCookie(request)
  }

  protected override openCookie (value: string) {
    this.opened++
    return super.openCookie(value)
  }

  protected override sealCookie (text: string): string {
    this.sealed++
    return super.sealCookie(text)
  }
}

function counterRoutes (app: FastifyInstance): void {
  app.get('/count', async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    return { visits }
  })
  app.get('/read', async (request) => ({ visits: request.session.get('visits') ?? null, isNew: request.session.isNew }))
  app.get('/ignore', async () => 'no session used')
}

t.test('registration', async (t) => {
  t.test('the options must be a storage; anything else names what is expected', async (t) => {
    for (const options of [undefined, {}, { loadSession () {}, saveSession () {} }, 'storage']) {
      const app = Fastify()
      t.teardown(() => app.close())
      await t.rejects(async () => { await app.register(sessionPlugin, options as never) }, {
        name: 'SessionConfigError', message: /register\(sessionPlugin, storage\) expects the storage itself as the options/
      })
    }
  })

  t.test('once per context', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, new SimpleCookieStorage())
    await t.rejects(async () => { await app.register(sessionPlugin, new SimpleCookieStorage()) }, SessionConfigError)
  })

  t.test('plugin metadata', async (t) => {
    const meta = (sessionPlugin as unknown as Record<symbol, { name: string, fastify: string }>)[Symbol.for('plugin-meta')]
    t.match(meta, { name: 'fastify-sessions', fastify: '5.x' })
  })

  t.test('routes declared before the plugin has loaded get sessions too', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(sessionPlugin, new SimpleCookieStorage())
    app.get('/', async (request) => {
      request.session.set('a', 1)
      return 'ok'
    })
    const response = await app.inject('/')
    t.match(cookiePair(response), /^AIOHTTP_SESSION=/)
  })

  t.test('config.session must be a boolean', async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(sessionPlugin, new SimpleCookieStorage())
    t.throws(() => app.get('/', { config: { session: 'false' as unknown as boolean } }, async () => 'x'),
      { name: 'SessionConfigError', message: /config\.session on GET \/ must be a boolean; got a string/ })
    t.doesNotThrow(() => app.get('/yes', { config: { session: true } }, async () => 'x'))
  })
})

t.test('a counter across requests; only changes are saved', async (t) => {
  const storage = new CountingStorage()
  const { app } = await buildApp(t, storage, counterRoutes)
  const first = await app.inject('/count')
  t.same(first.json(), { visits: 1 })
  const cookie = cookiePair(first) as string
  t.ok(cookie)
  t.same((await app.inject({ url: '/count', headers: { cookie } })).json(), { visits: 2 })

  storage.sealed = 0
  const read = await app.inject({ url: '/read', headers: { cookie } })
  t.same(read.json(), { visits: 1, isNew: false })
  t.same(setCookies(read), [], 'an unchanged session sends no Set-Cookie')
  t.equal(storage.sealed, 0, 'and costs no encryption or serialisation')

  storage.opened = 0
  const ignored = await app.inject({ url: '/ignore', headers: { cookie } })
  t.equal(ignored.body, 'no session used')
  t.equal(storage.opened, 0, 'a route that never touches the session never decrypts it')
  t.same(setCookies(ignored), [])

  const anonymous = await app.inject('/read')
  t.same(anonymous.json(), { visits: null, isNew: true })
  t.same(setCookies(anonymous), [], 'an anonymous request to a session route gets no cookie')
})

t.test('config: { session: false } opts a route out entirely', async (t) => {
  const storage = new CountingStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/health', { config: { session: false } }, async (request) => {
      const errors = []
      for (const use of [() => request.session, () => request.newSession()]) {
        try { use() } catch (error) { errors.push((error as Error).message) }
      }
      await getSession(request).catch((error: Error) => errors.push(error.message))
      return errors
    })
  })
  const cookie = cookiePair(await (async () => {
    const writer = await buildApp(t, storage, (app) => app.get('/', async (request) => { request.session.set('a', 1); return 'x' }))
    return writer.app.inject('/')
  })()) as string
  storage.cookieReads = 0
  storage.opened = 0
  const response = await app.inject({ url: '/health', headers: { cookie } })
  t.same(response.json(), Array(3).fill('fastify-sessions: request.session is not available on GET /health: the route opted out with config: { session: false }'))
  t.equal(storage.cookieReads, 0, 'the cookie is not even looked for')
  t.equal(storage.opened, 0)
  t.same(setCookies(response), [])
})

t.test('other cookies on the same reply are kept', async (t) => {
  for (const cookieFirst of [true, false]) {
    const app = Fastify()
    t.teardown(() => app.close())
    if (cookieFirst) await app.register(fastifyCookie)
    await app.register(sessionPlugin, new SimpleCookieStorage())
    if (!cookieFirst) await app.register(fastifyCookie)
    app.get('/', async (request, reply) => {
      reply.header('set-cookie', 'raw=1')
      reply.setCookie('other', 'two')
      request.session.set('a', 1)
      return 'ok'
    })
    app.get('/parsed', async (request) => ({ cookies: request.cookies, a: request.session.get('a') ?? null }))
    const response = await app.inject('/')
    const headers = setCookies(response)
    t.equal(headers.length, 3, `@fastify/cookie registered ${cookieFirst ? 'before' : 'after'}`)
    t.ok(headers.includes('raw=1'))
    t.ok(headers.some((header) => header.startsWith('other=two')))
    t.ok(headers.some((header) => header.startsWith('AIOHTTP_SESSION=')))
    const cookie = `other=two; ${cookiePair(response) as string}`
    const parsed = (await app.inject({ url: '/parsed', headers: { cookie } })).json()
    t.equal(parsed.a, 1, 'sessions work alongside @fastify/cookie')
    t.equal(parsed.cookies.other, 'two')
  }
})

t.test('request.newSession() and the aiohttp-style functions', async (t) => {
  const storage = new SimpleCookieStorage()
  const { app } = await buildApp(t, storage, (app) => {
    counterRoutes(app)
    app.post('/login', async (request) => {
      const before = await getSession(request)
      t.equal(before, request.session, 'getSession returns request.session')
      const session = request.newSession()
      t.equal(request.session, session, 'newSession replaces request.session')
      t.equal(session.isNew, true)
      t.equal(session.empty, true)
      session.set('user', 'ann')
      return 'ok'
    })
    app.post('/new-only', async (request) => {
      const session = await newSession(request)
      t.equal(await getSession(request), session)
      return 'ok'
    })
  })
  const counted = cookiePair(await app.inject('/count')) as string
  const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie: counted } })
  const loggedIn = cookiePair(login) as string
  t.match(loggedIn, /user/)
  t.notMatch(loggedIn, /visits/, 'the old data is gone')

  const cleared = await app.inject({ method: 'POST', url: '/new-only', headers: { cookie: loggedIn } })
  t.same(setCookies(cleared), ['AIOHTTP_SESSION=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/; SameSite=Lax'],
    'a new, empty session clears the cookie the browser holds')
  t.same(setCookies(await app.inject({ method: 'POST', url: '/new-only' })), [], 'and sends nothing to a browser without one')
})

t.test('getSession/newSession without the plugin say so', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.get('/', async (request) => {
    const messages: string[] = []
    await getSession(request).catch((error: Error) => messages.push(error.message))
    await newSession(request).catch((error: Error) => messages.push(error.message))
    return messages
  })
  t.same((await app.inject('/')).json(), Array(2).fill('fastify-sessions: the plugin is not registered in the context of this route'))
})

t.test('errors: replies with an HTTP status save, unexpected errors do not', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), (app) => {
    app.get('/bad-request', async (request) => {
      request.session.set('flash', 'invalid input')
      throw Object.assign(new Error('Bad Request'), { statusCode: 400 })
    })
    app.get('/status-error', async (request) => {
      request.session.set('flash', 'x')
      throw Object.assign(new Error('Teapot'), { status: 418 })
    })
    app.get('/redirect', async (request, reply) => {
      request.session.set('user', 'ann')
      return reply.redirect('/home')
    })
    app.get('/crash', async (request) => {
      request.session.set('half', 'done')
      throw new Error('boom')
    })
    app.get('/odd-status', async (request) => {
      request.session.set('half', 'done')
      throw Object.assign(new Error('weird'), { statusCode: 200 })
    })
    app.get('/stream', async (request, reply) => {
      request.session.set('streamed', true)
      return reply.type('text/plain').send(Readable.from(['a', 'b']))
    })
  })
  const badRequest = await app.inject('/bad-request')
  t.equal(badRequest.statusCode, 400)
  t.match(cookiePair(badRequest), /flash/, 'a 4xx saves, as aiohttp does for HTTPException')
  t.match(cookiePair(await app.inject('/status-error')), /flash/, 'error.status counts too')
  const redirect = await app.inject('/redirect')
  t.equal(redirect.statusCode, 302)
  t.match(cookiePair(redirect), /user/)
  const crash = await app.inject('/crash')
  t.equal(crash.statusCode, 500)
  t.same(setCookies(crash), [], 'an unexpected error discards the changes')
  t.same(setCookies(await app.inject('/odd-status')), [], 'a status outside 4xx/5xx is not an HTTP status')
  const stream = await app.inject('/stream')
  t.equal(stream.body, 'ab')
  t.match(cookiePair(stream), /streamed/, 'streams are saved: headers are not sent before onSend')
})

t.test('after an unexpected error nothing is saved, whatever the error handler does', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(sessionPlugin, new SimpleCookieStorage())
  app.setErrorHandler(async (error, request, reply) => {
    request.session.set('error', (error as Error).message)
    return reply.code(500).send({ failed: true })
  })
  app.get('/', async (request) => {
    request.session.set('lost', true)
    throw new Error('boom')
  })
  const response = await app.inject('/')
  t.same(response.json(), { failed: true })
  t.same(setCookies(response), [], 'the handler may have stopped half-way through its changes')
})

t.test('the not-found handler has a session', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), (app) => {
    app.setNotFoundHandler(async (request, reply) => {
      request.session.set('missed', request.url)
      return reply.code(404).send('nope')
    })
  })
  const response = await app.inject('/nowhere')
  t.equal(response.statusCode, 404)
  t.match(cookiePair(response), /missed/)
})

t.test('a server-side storage loads in onRequest, once', async (t) => {
  const storage = new MemoryStorage()
  const app = Fastify()
  t.teardown(() => app.close())
  app.addHook('onRequest', async (request) => {
    if (request.url === '/nowhere') {
      t.throws(() => request.session, { message: /request\.session on GET \/nowhere is not loaded yet/ }, 'the not-found route is named by its URL')
      t.throws(() => request.newSession(), { name: 'SessionNotAvailableError' }, 'newSession() needs the old session loaded first')
    }
    if (request.url !== '/early') return
    t.throws(() => request.session, { name: 'SessionNotAvailableError', message: /not loaded yet: MemoryStorage loads it in its onRequest hook.*await getSession\(request\)/ })
    const session = await getSession(request)
    t.equal(await getSession(request), session)
  })
  await app.register(sessionPlugin, storage)
  counterRoutes(app)
  app.get('/early', async (request) => ({ visits: request.session.get('visits') ?? null }))
  app.post('/login', async (request) => {
    request.newSession().set('user', 'ann')
    return 'ok'
  })
  app.post('/logout', async (request) => {
    request.session.invalidate()
    return 'ok'
  })

  t.equal((await app.inject('/nowhere')).statusCode, 404)
  const first = await app.inject('/count')
  t.equal(storage.reads, 0, 'no cookie: no read')
  const cookie = cookiePair(first) as string
  t.equal(cookie, 'AIOHTTP_SESSION=id1')
  t.same((await app.inject({ url: '/count', headers: { cookie } })).json(), { visits: 2 })
  t.equal(storage.reads, 1, 'one read per request with a cookie')
  t.same((await app.inject({ url: '/early', headers: { cookie } })).json(), { visits: 2 })
  t.equal(storage.reads, 2, 'getSession in an earlier hook loads; the plugin does not load again')

  const login = await app.inject({ method: 'POST', url: '/login', headers: { cookie } })
  t.equal(cookiePair(login), 'AIOHTTP_SESSION=id2', 'login gets a new identity')
  t.same([...storage.records.keys()], ['id2'], 'and the old record is deleted')
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { visits: null, isNew: true }, 'the old id is worthless')

  const logout = await app.inject({ method: 'POST', url: '/logout', headers: { cookie: 'AIOHTTP_SESSION=id2' } })
  t.match(setCookies(logout), [/^AIOHTTP_SESSION=""; expires=Thu, 01 Jan 1970/])
  t.equal(storage.records.size, 0, 'logout deletes the record')
})

t.test('encodeSession writes {} for an empty session, as aiohttp does', async (t) => {
  class Exposed extends MemoryStorage {
    encode (session: Session): string {
      return this.encodeSession(session)
    }
  }
  const storage = new Exposed()
  t.equal(storage.encode(storage.newSession()), '{}')
  t.equal(storage.encode(new Session({ data: { a: 1 }, created: 5 })), '{"created":5,"session":{"a":1}}')
})

t.test('storages that misbehave fail the request, not the process', async (t) => {
  class WrongLoad extends SimpleCookieStorage {
    override loadSession (): Session {
      return { not: 'a session' } as unknown as Session
    }
  }
  class AsyncWrongLoad extends MemoryStorage {
    override async loadSession (): Promise<Session> {
      return 'nope' as unknown as Session
    }
  }
  class ThrowingLoad extends MemoryStorage {
    override loadSession (): Promise<Session> {
      throw new Error('sync failure')
    }
  }
  class WrongNew extends SimpleCookieStorage {
    override newSession (): Session {
      return null as unknown as Session
    }
  }
  class FailingSave extends SimpleCookieStorage {
    saves = 0
    override saveSession (): void {
      this.saves++
      throw new Error('disk full')
    }
  }
  class RejectingSave extends MemoryStorage {
    override async saveSession (): Promise<void> {
      throw Object.assign(new Error('store down'), { statusCode: 503 })
    }
  }
  const cases: Array<[AbstractStorage, string, number, RegExp]> = [
    [new WrongLoad(), '/read', 500, /WrongLoad\.loadSession\(\) must return a Session; it returned a plain object/],
    [new AsyncWrongLoad(), '/read', 500, /AsyncWrongLoad\.loadSession\(\) must return a Session; it returned a string/],
    [new ThrowingLoad(), '/read', 500, /sync failure/],
    [new WrongNew(), '/new', 500, /WrongNew\.newSession\(\) must return a Session; it returned null/],
    [new FailingSave(), '/count', 500, /disk full/],
    [new RejectingSave(), '/count', 503, /store down/]
  ]
  for (const [storage, url, status, message] of cases) {
    const { app } = await buildApp(t, storage, (app) => {
      counterRoutes(app)
      app.get('/new', async (request) => { request.newSession(); return 'x' })
    })
    const response = await app.inject({ url, headers: { cookie: 'AIOHTTP_SESSION=id1' } })
    t.equal(response.statusCode, status, storage.constructor.name)
    t.match(response.json().message, message)
    t.same(setCookies(response).filter((header) => header.startsWith('AIOHTTP_SESSION')), [], 'no session cookie on failure')
    if (storage instanceof FailingSave) t.equal(storage.saves, 1, 'a failed save is not retried on the error reply')
  }
})
