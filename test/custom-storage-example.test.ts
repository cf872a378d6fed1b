/**
 * examples/custom-storage.ts, the storage docs/custom-storage.md is built around, used
 * as the guide uses it: registered, then driven through visits, login, logout, stale
 * and expired cookies.
 */
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { MapStorage } from '../examples/custom-storage.js'
import { buildApp, injector, sessionLine } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { counterRoutes } from './helpers/counter-routes.js'

function accountRoutes (app: FastifyInstance): void {
  counterRoutes(app)
  app.post('/login', async (request) => {
    request.newSession().set('user', 'ann')
    return 'ok'
  })
  app.post('/logout', async (request) => {
    request.session.invalidate()
    return 'ok'
  })
  app.post('/forget', async (request) => {
    request.session.clear()
    return 'ok'
  })
  app.get('/touch-and-undo', async (request) => {
    request.session.set('visits', 1)
    request.session.delete('visits')
    return 'ok'
  })
  app.get('/long', async (request) => {
    request.session.maxAge = 7200
    request.session.set('visits', 1)
    return 'ok'
  })
}

t.test('a visitor keeps a session whose record is in the Map, and the cookie holds its id', async (t) => {
  const storage = new MapStorage({ maxAge: 3600 })
  const inject = injector((await buildApp(t, storage, accountRoutes)).app)
  const first = await inject('GET', '/count')
  const cookie = cookiePair(first)
  t.match(cookie, /^AIOHTTP_SESSION=[0-9a-f]{32}$/, 'a random id')
  t.equal(storage.size, 1)
  const second = await inject('GET', '/count', cookie)
  t.same(second.json(), { visits: 2 })
  t.same(setCookies(second).length, 1, 'a changed session is saved again')
  const read = await inject('GET', '/read', cookie)
  t.same(read.json(), { visits: 2, isNew: false })
  t.same(setCookies(read), [], 'an unchanged session sends no cookie')
})

t.test('login replaces the id and deletes the old record; logout deletes the record and clears the cookie', async (t) => {
  const storage = new MapStorage({ maxAge: 3600 })
  const inject = injector((await buildApp(t, storage, accountRoutes)).app)
  const before = cookiePair(await inject('GET', '/count'))
  const after = cookiePair(await inject('POST', '/login', before))
  t.not(after, before)
  t.equal(storage.size, 1, 'the pre-login record is gone')
  t.same((await inject('GET', '/read', before)).json(), { visits: null, isNew: true }, 'the old id is worthless')
  const logout = await inject('POST', '/logout', after)
  t.match(setCookies(logout)[0], /^AIOHTTP_SESSION=""; expires=Thu, 01 Jan 1970/, 'the cookie is cleared')
  t.equal(storage.size, 0)
})

t.test('a session emptied with clear() keeps no record and clears the cookie', async (t) => {
  const storage = new MapStorage({ maxAge: 3600 })
  const inject = injector((await buildApp(t, storage, accountRoutes)).app)
  const cookie = cookiePair(await inject('GET', '/count'))
  const response = await inject('POST', '/forget', cookie)
  t.match(setCookies(response)[0], /^AIOHTTP_SESSION=""; expires=Thu, 01 Jan 1970/)
  t.equal(storage.size, 0)
})

t.test('an unknown id gives a new session and a debug line, never an error', async (t) => {
  const storage = new MapStorage()
  const inject = injector((await buildApp(t, storage, accountRoutes)).app)
  const response = await inject('GET', '/read', 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef')
  t.same(response.json(), { visits: null, isNew: true })
  t.match(sessionLine(response), { level: 20, reason: 'unknown or expired id' })
  t.same(setCookies(response), [])
})

t.test('a session emptied by its own request, without a cookie, stores nothing and sends nothing', async (t) => {
  const storage = new MapStorage()
  const inject = injector((await buildApp(t, storage, accountRoutes)).app)
  const response = await inject('GET', '/touch-and-undo')
  t.same(setCookies(response), [])
  t.equal(storage.size, 0)
})

t.test('records expire with maxAge; without one they stay', async (t) => {
  const clock = fakeDate(t, 1_700_000_000)
  const expiring = new MapStorage({ maxAge: 3600 })
  const lasting = new MapStorage()
  const expiringInject = injector((await buildApp(t, expiring, accountRoutes)).app)
  const lastingInject = injector((await buildApp(t, lasting, accountRoutes)).app)
  const expiringCookie = cookiePair(await expiringInject('GET', '/count'))
  const lastingCookie = cookiePair(await lastingInject('GET', '/count'))
  // Longer than this storage's maxAge for this one response: the record outlives the
  // session, and the envelope's `created` still ends it.
  const longCookie = cookiePair(await expiringInject('GET', '/long'))
  clock.tick(3601_000)
  const expired = await expiringInject('GET', '/read', expiringCookie)
  t.same(expired.json(), { visits: null, isNew: true })
  t.match(sessionLine(expired), { reason: 'unknown or expired id' })
  const outlived = await expiringInject('GET', '/read', longCookie)
  t.same(outlived.json(), { visits: null, isNew: true })
  t.match(sessionLine(outlived), { reason: 'expired' })
  t.equal(expiring.size, 1, 'the expired record was forgotten when looked up; the longer one stays until then')
  t.same((await lastingInject('GET', '/read', lastingCookie)).json(), { visits: 1, isNew: false })
})
