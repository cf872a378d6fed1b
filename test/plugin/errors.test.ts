/**
 * Errors and the session: replies with an HTTP status save it, unexpected errors
 * discard its changes, and storages that break their contract fail the request with
 * a message naming them, never the process.
 */
import { Readable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import sessionPlugin, { SimpleCookieStorage } from '../../index.js'
import type { AbstractStorage, Session } from '../../index.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { counterRoutes } from '../helpers/counter-routes.js'
import { MemoryStorage } from '../helpers/memory-storage.js'

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
    t.equal(cookiePair(response), undefined, 'no session cookie on failure')
    if (storage instanceof FailingSave) t.equal(storage.saves, 1, 'a failed save is not retried on the error reply')
  }
})
