/**
 * A server-side storage loads the session asynchronously in onRequest, once per
 * request with a cookie; hooks that run earlier await getSession(request).
 */
import Fastify from 'fastify'
import t from 'tap'
import sessionPlugin, { getSession } from '../../index.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { counterRoutes } from '../helpers/counter-routes.js'
import { MemoryStorage } from '../helpers/memory-storage.js'

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
