import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import t from 'tap'
import { AbstractStorage, Session, SimpleCookieStorage } from '../index.js'
import type { SessionEnvelope } from '../index.js'
import { buildApp } from './helpers/app.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { MemoryStorage } from './helpers/memory-storage.js'

function routes (app: FastifyInstance): void {
  app.get('/set/bigint', async (request) => {
    request.session.set('n', 10n)
    return 'ok'
  })
  app.get('/set/text', async (request) => {
    request.session.set('name', 'Zoë 😀')
    return 'ok'
  })
  app.get('/read', async (request) => ({ name: request.session.get('name') ?? null }))
}

t.test('values the encoder cannot encode fail the save clearly', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const response = await app.inject('/set/bigint')
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message: /^fastify-sessions: the session could not be encoded: .*BigInt/ })
  t.same(setCookies(response), [])
})

t.test('an encoder must return a string', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage({ encoder: () => 42 as unknown as string }), routes)
  const response = await app.inject('/set/text')
  t.match(response.json(), { code: 'FST_SESSIONS_ENCODING', message: 'fastify-sessions: the encoder must return a string; it returned number' })
})

t.test('Simple: the default encoder keeps the cookie ASCII, as Python\'s json.dumps does', async (t) => {
  const { app } = await buildApp(t, new SimpleCookieStorage(), routes)
  const cookie = cookiePair(await app.inject('/set/text')) as string
  t.ok(cookie.includes(String.raw`\"Zo\\u00eb \\ud83d\\ude00\"`), 'non-ASCII as \\u escapes (then quoted)')
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { name: 'Zoë 😀' })
})

t.test('Simple: a custom encoder\'s non-ASCII output travels as UTF-8 bytes', async (t) => {
  const storage = new SimpleCookieStorage({
    encoder: (envelope: SessionEnvelope) => 'custom:' + JSON.stringify(envelope),
    decoder: (text: string) => JSON.parse(text.slice('custom:'.length))
  })
  const { app } = await buildApp(t, storage, routes)
  const cookie = cookiePair(await app.inject('/set/text')) as string
  t.match(cookie, /Zo\\303\\253 \\360\\237\\230\\200/, 'quoted as octal bytes, which Python decodes too')
  t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { name: 'Zoë 😀' })
})

t.test('a server-side storage may load synchronously', async (t) => {
  class SyncStorage extends AbstractStorage {
    loads = 0
    override loadSession (): Session {
      this.loads++
      return this.newSession()
    }

    override saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): void {
      this.saveCookie(reply, 'fixed-id', session.maxAge)
    }
  }
  const storage = new SyncStorage()
  const { app } = await buildApp(t, storage, (app) => {
    app.get('/', async (request) => {
      request.session.set('a', 1)
      return request.session.isNew
    })
  })
  const response = await app.inject('/')
  t.equal(response.body, 'true')
  t.equal(cookiePair(response), 'AIOHTTP_SESSION=fixed-id')
  t.equal(storage.loads, 1)
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
