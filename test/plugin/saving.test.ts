/**
 * When the session is saved: only changes cost a Set-Cookie (and its encryption),
 * other cookies on the reply are kept, and the not-found handler has a session too.
 */
import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import t from 'tap'
import sessionPlugin, { SimpleCookieStorage } from '../../index.js'
import { buildApp } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { counterRoutes } from '../helpers/counter-routes.js'
import { CountingStorage } from '../helpers/counting-storage.js'

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
