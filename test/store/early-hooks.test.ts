/**
 * onRequest hooks added before the plugin run before its load hook. With a server-side
 * storage, `request.session` there throws the same error with or without a session
 * cookie, so such a hook fails on its developer's first try rather than once visitors
 * have cookies; `await getSession(request)` works there, with one read. Hooks added
 * after the plugin, and handlers, see the session either way.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import Fastify from 'fastify'
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import sessionPlugin, { getSession } from '../../index.js'
import { cookiePair } from '../helpers/cookies.js'
import { storeRoutes } from '../helpers/store-routes.js'
import { ioDuring, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

/** What touching the session did, as the route returns it: the user, or the error's name and message. */
type Outcome = { user: unknown } | { threw: string, message: string }

async function outcome (touch: () => unknown): Promise<Outcome> {
  try {
    const session = await touch() as { get (key: string): unknown }
    return { user: session.get('user') ?? null }
  } catch (error) {
    return { threw: (error as Error).name, message: (error as Error).message }
  }
}

for (const backend of backends) {
  const storageName = `${backend.name}Storage`

  t.test(`${backend.name}: request.session in an onRequest hook added before the plugin throws, with a cookie or without`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    const early = new WeakMap<FastifyRequest, Outcome[]>()
    app.addHook('onRequest', async (request) => {
      if (!request.url.startsWith('/early')) return
      const outcomes = [await outcome(() => request.session), await outcome(() => request.newSession())]
      if (request.url === '/early/get-session') outcomes.push(await outcome(async () => await getSession(request)))
      early.set(request, outcomes)
    })
    await app.register(sessionPlugin, backend.storage())
    app.addHook('onRequest', async (request) => {
      if (request.url === '/late') early.set(request, [await outcome(() => request.session)])
    })
    storeRoutes(app)
    for (const url of ['/early', '/early/get-session', '/late']) {
      app.get(url, async (request) => ({ hook: early.get(request), handler: await outcome(() => request.session) }))
    }

    const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'ann' } })
    const cookie = cookiePair(login) as string
    const notLoaded = {
      threw: 'SessionNotAvailableError',
      message: `fastify-sessions: request.session on GET /early is not loaded yet: ${storageName} loads it in its onRequest hook, ` +
        "which runs after the onRequest hooks added before the plugin's registration. In such a hook use `await getSession(request)` " +
        'instead, or add the hook after registering the plugin.'
    }

    for (const [what, headers] of [['without a cookie', {}], ['with a cookie', { cookie }]] as const) {
      const [response, io] = await ioDuring(backend, async () => await app.inject({ url: '/early', headers }))
      t.same(response.json(), { hook: [notLoaded, notLoaded], handler: { user: what === 'with a cookie' ? 'ann' : null } },
        `${what}: the same error for request.session and request.newSession(); the handler has the session`)
      t.same(io, { reads: what === 'with a cookie' ? 1 : 0, writes: 0, deletes: 0 }, `${what}: the plugin's hook still reads once, or not at all`)
    }

    const [withCookie, io] = await ioDuring(backend, async () => await app.inject({ url: '/early/get-session', headers: { cookie } }))
    t.same(withCookie.json().hook[2], { user: 'ann' }, 'await getSession(request) loads it in such a hook')
    t.equal(io.reads, 1, 'and the plugin does not read it again')
    const [withoutCookie, noIo] = await ioDuring(backend, async () => await app.inject('/early/get-session'))
    t.same(withoutCookie.json().hook[2], { user: null }, 'without a cookie, getSession gives a new session')
    t.same(noIo, { reads: 0, writes: 0, deletes: 0 })

    t.same((await app.inject({ url: '/late', headers: { cookie } })).json(), { hook: [{ user: 'ann' }], handler: { user: 'ann' } }, 'a hook added after the plugin sees the session')
    t.same((await app.inject('/late')).json(), { hook: [{ user: null }], handler: { user: null } }, 'and a new one without a cookie')
  })
}
