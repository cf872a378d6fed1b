/**
 * request.newSession() and the aiohttp-style getSession()/newSession() functions,
 * with and without the plugin.
 */
import Fastify from 'fastify'
import t from 'tap'
import { SimpleCookieStorage, getSession, newSession } from '../../index.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { counterRoutes } from '../helpers/counter-routes.js'

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
  t.match((await app.inject('/')).json(), [
    /^fastify-sessions: getSession\(request\) on GET \/: fastify-sessions is not registered in this application; register it on this instance or a parent, before the plugin that declares this route: `app.register\(sessionPlugin, storage\)`/,
    /^fastify-sessions: newSession\(request\) on GET \/: fastify-sessions is not registered in this application; /
  ])
})
