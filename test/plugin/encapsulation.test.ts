/**
 * The plugin in Fastify's encapsulation contexts. Registered inside an encapsulated
 * plugin, it serves that plugin's routes; a route elsewhere that touches the session
 * gets a SessionNotAvailableError saying where to register the plugin, never
 * "Cannot read properties of undefined". Tested with real encapsulated contexts.
 */
import Fastify from 'fastify'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import type { Test } from 'tap'
import sessionPlugin, { SimpleCookieStorage, getSession, newSession, saveSession } from '../../index.js'
import { cookiePair } from '../helpers/cookies.js'

const NOT_REGISTERED_HERE = ': fastify-sessions is not registered in the context of this route, only in another, encapsulated one; ' +
  'register it on this instance or a parent, before the plugin that declares this route: `app.register(sessionPlugin, storage)`; ' +
  'if a plugin of yours registers it, wrap that plugin with fastify-plugin so that the registration is not encapsulated in it'

/** A counter at `${prefix}/count`: the session works where this answers 1, 2, 3… */
function counter (app: FastifyInstance, prefix = ''): void {
  app.get(`${prefix}/count`, async (request) => {
    const visits = ((request.session.get('visits') as number | undefined) ?? 0) + 1
    request.session.set('visits', visits)
    return { visits }
  })
}

/** Routes that touch the session every way there is, each answering with what it threw. */
function toucher (app: FastifyInstance, prefix = ''): void {
  const caught = (action: () => unknown) => async () => {
    try {
      await action()
      return { threw: null }
    } catch (error) {
      return { threw: (error as Error).name, message: (error as Error).message }
    }
  }
  app.get(`${prefix}/session`, async (request) => await caught(() => request.session.get('visits'))())
  app.get(`${prefix}/new-session`, async (request) => await caught(() => request.newSession())())
  app.get(`${prefix}/get-session`, async (request) => await caught(async () => await getSession(request))())
  app.get(`${prefix}/new-session-function`, async (request) => await caught(async () => await newSession(request))())
  app.get(`${prefix}/save-session`, async (request) => await caught(async () => { await request.saveSession() })())
  app.get(`${prefix}/save-session-function`, async (request) => await caught(async () => { await saveSession(request) })())
}

function appFor (t: Test): FastifyInstance {
  const app = Fastify()
  t.teardown(() => app.close())
  return app
}

/** Counts twice on `url`, sending the first answer's cookie back: true when the session works there. */
async function counts (app: FastifyInstance, url: string, cookieName?: string): Promise<boolean> {
  const first = await app.inject(url)
  const cookie = cookiePair(first, cookieName)
  if (cookie === undefined) return false
  const second = await app.inject({ url, headers: { cookie } })
  return second.json<{ visits: number }>().visits === 2
}

t.test('routes outside the context that registered the plugin get an error that says where to register it', async (t) => {
  const app = appFor(t)
  app.register(async (api) => {
    await api.register(sessionPlugin, new SimpleCookieStorage())
    counter(api, '/api')
  })
  app.register(async (admin) => { toucher(admin, '/admin') })
  toucher(app)
  await app.ready()

  t.ok(await counts(app, '/api/count'), 'the plugin serves its own context')
  for (const prefix of ['/admin', '']) {
    t.same((await app.inject(`${prefix}/session`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: request.session on GET ${prefix}/session${NOT_REGISTERED_HERE}` },
      `request.session in ${prefix === '' ? 'the parent' : 'a sibling'}`)
    t.same((await app.inject(`${prefix}/new-session`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: request.newSession() on GET ${prefix}/new-session${NOT_REGISTERED_HERE}` })
    t.same((await app.inject(`${prefix}/get-session`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: getSession(request) on GET ${prefix}/get-session${NOT_REGISTERED_HERE}` })
    t.same((await app.inject(`${prefix}/new-session-function`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: newSession(request) on GET ${prefix}/new-session-function${NOT_REGISTERED_HERE}` })
    t.same((await app.inject(`${prefix}/save-session`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: request.saveSession() on GET ${prefix}/save-session${NOT_REGISTERED_HERE}` })
    t.same((await app.inject(`${prefix}/save-session-function`)).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: saveSession(request) on GET ${prefix}/save-session-function${NOT_REGISTERED_HERE}` })
  }
})

t.test('an uncaught misuse is a 500 with that message', async (t) => {
  const app = appFor(t)
  app.register(async (api) => { await api.register(sessionPlugin, new SimpleCookieStorage()) })
  app.get('/user', async (request) => ({ user: request.session.get('user') ?? null }))
  const response = await app.inject('/user')
  t.equal(response.statusCode, 500)
  t.match(response.json(), { code: 'FST_SESSIONS_NOT_AVAILABLE', message: /^fastify-sessions: request\.session on GET \/user: fastify-sessions is not registered in the context of this route/ })
  t.notMatch(response.body, /Cannot read properties of undefined/)
})

t.test('without the plugin anywhere, the session functions say so', async (t) => {
  const app = appFor(t)
  toucher(app)
  const message = ': fastify-sessions is not registered in this application; register it on this instance or a parent'
  t.match((await app.inject('/get-session')).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: getSession(request) on GET /get-session${message}` })
  t.match((await app.inject('/new-session-function')).json(), { threw: 'SessionNotAvailableError', message: `fastify-sessions: newSession(request) on GET /new-session-function${message}` })
})

t.test('what the message advises works: the plugin wrapped with fastify-plugin, or registered on the parent first', async (t) => {
  const wrapped = appFor(t)
  wrapped.register(fp(async (sessions) => { await sessions.register(sessionPlugin, new SimpleCookieStorage()) }))
  wrapped.register(async (admin) => { counter(admin, '/admin') })
  counter(wrapped)
  t.ok(await counts(wrapped, '/admin/count'), 'a sibling of the fastify-plugin wrapper')
  t.ok(await counts(wrapped, '/count'), 'the parent')

  const parent = appFor(t)
  await parent.register(sessionPlugin, new SimpleCookieStorage())
  parent.register(async (admin) => {
    admin.register(async (nested) => { counter(nested, '/admin/nested') })
    counter(admin, '/admin')
  })
  t.ok(await counts(parent, '/admin/count'), 'a child context')
  t.ok(await counts(parent, '/admin/nested/count'), 'a grandchild context')
})

t.test('sibling contexts may each have their own storage', async (t) => {
  const app = appFor(t)
  app.register(async (a) => {
    await a.register(sessionPlugin, new SimpleCookieStorage({ cookieName: 'A' }))
    counter(a, '/a')
  })
  app.register(async (b) => {
    await b.register(sessionPlugin, new SimpleCookieStorage({ cookieName: 'B' }))
    counter(b, '/b')
  })
  t.ok(await counts(app, '/a/count', 'A'))
  t.ok(await counts(app, '/b/count', 'B'))
})

t.test('a registration on the root after one in a child: each context keeps its own', async (t) => {
  const app = appFor(t)
  app.register(async (child) => {
    await child.register(sessionPlugin, new SimpleCookieStorage({ cookieName: 'CHILD' }))
    counter(child, '/child')
  })
  app.register(sessionPlugin, new SimpleCookieStorage({ cookieName: 'ROOT' }))
  app.after(() => { counter(app) })
  t.ok(await counts(app, '/count', 'ROOT'))
  t.ok(await counts(app, '/child/count', 'CHILD'))
})

t.test('a second registration in a child of a registered context is refused', async (t) => {
  const app = appFor(t)
  await app.register(sessionPlugin, new SimpleCookieStorage())
  await t.rejects(async () => {
    await app.register(async (child) => { await child.register(sessionPlugin, new SimpleCookieStorage()) })
  }, { name: 'SessionConfigError', message: 'fastify-sessions: the plugin is already registered in this context or a parent; register it once, with one storage' })
})

t.test('another plugin that already decorates request.session is named', async (t) => {
  for (const name of ['session', 'newSession']) {
    const app = appFor(t)
    app.decorateRequest(name, null)
    await t.rejects(async () => { await app.register(sessionPlugin, new SimpleCookieStorage()) }, {
      name: 'SessionConfigError', message: /^fastify-sessions: request\.session is already decorated by another plugin in this context \(@fastify\/session, @fastify\/secure-session…\): use one session plugin$/
    }, name)
  }
})
