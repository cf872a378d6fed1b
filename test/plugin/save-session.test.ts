/**
 * request.saveSession() and saveSession(request) in ordinary routes (the websocket
 * routes are in test/websocket.test.ts, Redis and Memcached in
 * test/store/save-session.test.ts): a cookie storage leaves the cookie to the reply and
 * explains why it cannot save where no reply can carry one; saves of one request run
 * one after another, and a failed save leaves the session to be saved again.
 */
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import Fastify from 'fastify'
import type { FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import sessionPlugin, { Session, SessionStorageError, SimpleCookieStorage, saveSession } from '../../index.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, parseSetCookie, setCookies } from '../helpers/cookies.js'
import { MemoryStorage } from '../helpers/memory-storage.js'

/** What a save that failed said, for a route to send back. */
function failure (error: Error): { name: string, message: string } {
  return { name: error.name, message: error.message }
}

/** The message a cookie storage gives where no reply can carry its cookie. */
function noReply (route: string, before = ''): RegExp {
  return new RegExp(`^${before}fastify-sessions: request\\.saveSession\\(\\) on ${route}: SimpleCookieStorage keeps the session in the cookie, ` +
    'and there is no reply here to carry one .*use a server-side storage \\(RedisStorage, MemcachedStorage\\), which saves without a reply\\.$')
}

t.test('a cookie storage in an ordinary route: the cookie goes out with the reply, once, with every change', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), (app) => {
    app.get('/save-then-change', async (request, reply) => {
      request.session.set('a', 1)
      await request.saveSession()
      await saveSession(request)
      const queued = reply.getHeader('set-cookie') ?? null
      request.session.set('b', 2)
      return { queued }
    })
    app.get('/unchanged', async (request) => {
      await request.saveSession()
      return 'ok'
    })
    app.get('/read', async (request) => request.session.toJSON())
  })
  const response = await app.inject('/save-then-change')
  t.same(response.json(), { queued: null }, 'saveSession() wrote nothing by itself')
  t.same(setCookies(response).length, 1, 'one Set-Cookie')
  const cookie = cookiePair(response) as string
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { a: 1, b: 2 }, 'with the change made after saveSession() too')
  t.same(setCookies(await app.inject('/unchanged')), [])
})

t.test('a cookie storage says why it cannot save where no reply can carry the cookie', async (t) => {
  const outcomes: Array<Promise<unknown>> = []
  const { app } = await buildApp(t, new SimpleCookieStorage(), (app) => {
    app.get('/hijacked', async (request, reply) => {
      reply.hijack()
      request.session.set('a', 1)
      const error = await request.saveSession().then(() => null, failure)
      reply.raw.writeHead(200, { 'content-type': 'application/json' })
      reply.raw.end(JSON.stringify(error))
    })
    app.get('/streaming', async (request, reply) => {
      const body = new PassThrough()
      reply.send(body)
      // The pipe into the response listens first: when this listener hears the chunk,
      // the pipe has written it, and the headers with it.
      const written = once(body, 'data')
      body.write('saving: ')
      await written
      request.session.set('a', 1)
      request.saveSession().then(() => body.end('saved'), (error: Error) => body.end(error.message))
      return reply
    })
    app.get('/sent', (request, reply) => {
      reply.send('done')
      request.session.set('a', 1)
      outcomes.push(request.saveSession().then(() => null, failure))
    })
  })
  const hijacked = await app.inject('/hijacked')
  t.match(hijacked.json(), { name: 'SessionNotAvailableError', message: noReply('GET /hijacked') }, 'a hijacked reply')
  t.same(setCookies(hijacked), [])
  const streaming = await app.inject('/streaming')
  t.match(streaming.body, noReply('GET /streaming', 'saving: '), 'a reply whose headers went out')
  t.same(setCookies(streaming), [])
  const sent = await app.inject('/sent')
  t.equal(sent.body, 'done')
  t.same(setCookies(sent), [])
  t.match(await outcomes[0], { name: 'SessionNotAvailableError', message: noReply('GET /sent') }, 'a reply already sent')
})

t.test('before the plugin\'s onRequest hook, no reply is known yet', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const outcomes: Array<Promise<unknown>> = []
  app.addHook('onRequest', async (request) => {
    request.session.set('early', true)
    outcomes.push(saveSession(request).then(() => null, failure))
  })
  await app.register(sessionPlugin, new SimpleCookieStorage())
  app.get('/', async () => 'ok')
  t.equal((await app.inject('/')).body, 'ok')
  t.match(await outcomes[0], { name: 'SessionNotAvailableError', message: noReply('GET /') })
})

t.test('an opted-out route and an app without the plugin say so', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), (app) => {
    app.get('/health', { config: { session: false } }, async (request) => [
      await request.saveSession().then(() => null, failure),
      await saveSession(request).then(() => null, failure)
    ])
  })
  t.match((await app.inject('/health')).json(), Array(2).fill({
    name: 'SessionNotAvailableError',
    message: 'fastify-sessions: request.session is not available on GET /health: the route opted out with config: { session: false }'
  }), 'a rejection, not a synchronous throw')

  const bare = Fastify()
  t.teardown(() => bare.close())
  bare.get('/', async (request) => await saveSession(request).then(() => null, failure))
  t.match((await bare.inject('/')).json(), { name: 'SessionNotAvailableError', message: /^fastify-sessions: saveSession\(request\) on GET \/: fastify-sessions is not registered in this application; register it on this instance or a parent/ })
})

t.test('CookieStorage.saveSession() called without a reply explains itself', async (t) => {
  const request = { headers: {} } as FastifyRequest
  t.throws(() => new SimpleCookieStorage().saveSession(request, undefined, new Session({ data: { a: 1 } })), {
    name: 'SessionNotAvailableError',
    message: 'fastify-sessions: SimpleCookieStorage keeps the session in the cookie: it cannot save one without a reply to carry the cookie'
  })
})

/** A custom server-side storage whose saves wait for the test, and can be made to fail. */
class HeldStorage extends MemoryStorage {
  started = 0
  failNext = false
  readonly #releases: Array<() => void> = []
  readonly #startWaiters: Array<() => void> = []

  override async saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): Promise<void> {
    this.started++
    for (const wake of this.#startWaiters.splice(0)) wake()
    await new Promise<void>((resolve) => this.#releases.push(resolve))
    if (this.failNext) {
      this.failNext = false
      throw new SessionStorageError('the store is down')
    }
    await super.saveSession(request, reply, session)
  }

  /** Resolves once `count` saves have started. */
  async untilStarted (count: number): Promise<void> {
    while (this.started < count) await new Promise<void>((resolve) => this.#startWaiters.push(resolve))
  }

  /** Lets the oldest held save go on. */
  release (): void {
    const release = this.#releases.shift()
    if (release === undefined) throw new Error('no save is waiting')
    release()
  }
}

t.test('saves of one request run one after another, each with what changed before it started', async (t) => {
  const storage = new HeldStorage()
  const checks: string[] = []
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/twice', async (request) => {
      request.newSession().set('a', 1)
      const first = request.saveSession()
      request.session.set('b', 2)
      const second = saveSession(request)
      await storage.untilStarted(1)
      checks.push(`started after two calls: ${storage.started}`)
      storage.release()
      await first
      await storage.untilStarted(2)
      checks.push(`started after the first finished: ${storage.started}`)
      storage.release()
      await second
      return 'ok'
    })
  })
  const response = await app.inject('/twice')
  t.equal(response.statusCode, 200)
  t.same(checks, ['started after two calls: 1', 'started after the first finished: 2'], 'the second save waited for the first')
  t.same(storage.started, 2, 'onSend had nothing left to save')
  const pairs = setCookies(response).map((header) => parseSetCookie(header).pair)
  t.same(pairs, ['AIOHTTP_SESSION=id1', 'AIOHTTP_SESSION=id1'], 'each save set the cookie of the one id')
  t.match(JSON.parse(storage.records.get('id1') as string), { session: { a: 1, b: 2 } }, 'whose record holds both changes')
  t.equal(storage.records.size, 1)
})

t.test('a failed save leaves the session changed, to be saved again', async (t) => {
  const storage = new HeldStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/retry', async (request) => {
      request.newSession().set('a', 1)
      storage.failNext = true
      const failing = request.saveSession().then(() => null, failure)
      const retried = request.saveSession()
      await storage.untilStarted(1)
      storage.release()
      const error = await failing
      await storage.untilStarted(2)
      storage.release()
      await retried
      return { error }
    })
    app.get('/fail-in-handler', async (request) => {
      request.newSession().set('b', 2)
      storage.failNext = true
      const before = storage.started
      const failing = request.saveSession().then(() => null, failure)
      await storage.untilStarted(before + 1)
      storage.release()
      return { error: await failing }
    })
  })
  const retry = await app.inject('/retry')
  t.match(retry.json(), { error: { name: 'SessionStorageError', message: /the store is down/ } }, 'the first save failed')
  t.equal(storage.started, 2, 'the queued save ran after the failed one, and onSend had nothing left')
  t.equal(storage.records.size, 1, 'and it saved the change')

  const saves = storage.started
  const left = app.inject('/fail-in-handler')
  await storage.untilStarted(saves + 2)
  storage.release()
  const response = await left
  t.match(response.json(), { error: { name: 'SessionStorageError' } })
  t.equal(storage.started, saves + 2, 'the change the failed save left was saved in onSend')
  t.match(JSON.parse(storage.records.get(/=(id\d+)$/.exec(cookiePair(response) ?? '')?.[1] as string) as string), { session: { b: 2 } })
})

t.test('a save the handler did not wait for: the reply waits for it, then saves what changed since', async (t) => {
  const storage = new HeldStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/not-awaited', async (request) => {
      request.newSession().set('a', 1)
      request.saveSession().catch(() => {})
      return 'ok'
    })
    app.get('/not-awaited-then-changed', async (request) => {
      request.newSession().set('a', 1)
      request.saveSession().catch(() => {})
      request.session.set('b', 2)
      return 'ok'
    })
  })
  const answer = app.inject('/not-awaited')
  await storage.untilStarted(1)
  storage.release()
  const response = await answer
  t.equal(cookiePair(response), 'AIOHTTP_SESSION=id1', 'the cookie that save set went out with the reply')
  t.equal(storage.started, 1)

  const changed = app.inject('/not-awaited-then-changed')
  await storage.untilStarted(2)
  storage.release()
  await storage.untilStarted(3)
  storage.release()
  const both = await changed
  t.same(setCookies(both).map((header) => parseSetCookie(header).pair), ['AIOHTTP_SESSION=id2', 'AIOHTTP_SESSION=id2'])
  t.match(JSON.parse(storage.records.get('id2') as string), { session: { a: 1, b: 2 } }, 'onSend saved the later change')
})
