/**
 * request.saveSession() on Redis and Memcached in ordinary routes: the record is
 * written at the call, the cookie goes out with the reply, a new session keeps the id
 * it was saved under, and a hijacked reply gets the record without a cookie (or the
 * reason a new id cannot be saved). Websocket routes: test/websocket.test.ts.
 */
import t from 'tap'
import { buildApp, injector } from '../helpers/app.js'
import { cookiePair, parseSetCookie, setCookies } from '../helpers/cookies.js'
import { storeRoutes } from '../helpers/store-routes.js'
import { ioDuring, recordKey, storeBackends } from '../helpers/stores.js'
import type { StoreBackend } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

/** The session data in a record, or null when there is none. */
async function recordData (backend: StoreBackend, id: string | null): Promise<unknown> {
  const record = id === null ? null : await backend.rawGet(recordKey(id))
  return record === null ? null : (JSON.parse(record.toString('utf8')) as { session: unknown }).session
}

for (const backend of backends) {
  t.test(`${backend.name}: in an ordinary route the record is written at the call`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), (app) => {
      storeRoutes(app)
      app.post('/save-now', async (request) => {
        request.session.set('visits', 1)
        await request.saveSession()
        return { recorded: await recordData(backend, request.session.identity) }
      })
      app.post('/login-now', async (request) => {
        request.newSession().set('user', 'bob')
        await request.saveSession()
        const identity = request.session.identity
        const recorded = await recordData(backend, identity)
        request.session.set('visits', 1)
        return { identity, recorded }
      })
    })
    const inject = injector(app)
    const cookie = cookiePair(await inject('POST', '/login', undefined, { user: 'ann' })) as string

    const [saved, io] = await ioDuring(backend, async () => await inject('POST', '/save-now', cookie))
    t.same(saved.json(), { recorded: { user: 'ann', visits: 1 } }, 'the handler found its change in the store')
    t.same(setCookies(saved).map((header) => parseSetCookie(header).pair), [cookie], 'the cookie went out with the reply')
    t.same(io.writes, 1, 'and onSend did not write again')

    const [login, loginIo] = await ioDuring(backend, async () => await inject('POST', '/login-now', cookie))
    const { identity, recorded } = login.json()
    t.match(identity, /^[0-9a-f]{32}$/, 'a new session has its id once saved')
    t.same(recorded, { user: 'bob' })
    t.same(setCookies(login).map((header) => parseSetCookie(header).pair), [`AIOHTTP_SESSION=${identity}`, `AIOHTTP_SESSION=${identity}`],
      'the change made afterwards was saved in onSend under the same id (no second record)')
    t.equal(loginIo.writes, 2, 'two writes, of one record')
    t.same(await recordData(backend, identity), { user: 'bob', visits: 1 })
  })

  t.test(`${backend.name}: a hijacked reply gets the record without a cookie, or the reason it cannot`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), (app) => {
      storeRoutes(app)
      app.post('/hijacked', async (request, reply) => {
        reply.hijack()
        const { login } = request.body as { login?: boolean }
        if (login === true) request.newSession()
        request.session.set('visits', 1)
        const error = await request.saveSession().then(() => null, (error: Error) => ({ name: error.name, message: error.message }))
        reply.raw.writeHead(200, { 'content-type': 'application/json' })
        reply.raw.end(JSON.stringify({ error, recorded: await recordData(backend, request.session.identity) }))
      })
    })
    const inject = injector(app)
    const cookie = cookiePair(await inject('POST', '/login', undefined, { user: 'ann' })) as string

    const saved = await inject('POST', '/hijacked', cookie, {})
    t.same(saved.json(), { error: null, recorded: { user: 'ann', visits: 1 } }, 'the session the cookie names is saved')
    t.same(setCookies(saved), [])

    const [refused, io] = await ioDuring(backend, async () => await inject('POST', '/hijacked', cookie, { login: true }))
    t.match(refused.json(), { error: { name: 'SessionNotAvailableError', message: /Storage cannot save this session without a reply: it needs a new id/ }, recorded: null })
    t.same(io.writes + io.deletes, 0, 'nothing written, nothing deleted')
  })

  t.test(`${backend.name}: a login saved by request.saveSession() and ended while the save works: no record is left`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), (app) => {
      storeRoutes(app)
      app.post('/login-then-logout', async (request) => {
        request.newSession().set('user', 'bob')
        const saving = request.saveSession()
        // While the store creates the new record: the handler ends the session it saves.
        request.session.invalidate()
        await saving
        return { ok: true }
      })
    })
    const inject = injector(app)
    const cookie = cookiePair(await inject('POST', '/login', undefined, { user: 'ann' })) as string

    const response = await inject('POST', '/login-then-logout', cookie)
    const [created, deletion] = setCookies(response).map((header) => parseSetCookie(header).pair)
    t.match(created, /^AIOHTTP_SESSION=[0-9a-f]{32}$/, 'the save created a record under a new id (and set its cookie)')
    t.equal(deletion, 'AIOHTTP_SESSION=""', 'then onSend ended it: the cookie is deleted')
    t.equal(await recordData(backend, (created as string).slice('AIOHTTP_SESSION='.length)), null, 'the record that save created is deleted')
    t.equal(await recordData(backend, cookie.slice('AIOHTTP_SESSION='.length)), null, 'and the one the login before it had')
  })
}
