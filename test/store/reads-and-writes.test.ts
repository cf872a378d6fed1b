/**
 * What a request costs a server-side storage: aiohttp-session's layout, exactly one
 * read per request with a cookie and none without one or on an opted-out route, one
 * write per change. (Hooks that run before the plugin's: early-hooks.test.ts.)
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { buildApp, injector } from '../helpers/app.js'
import { cookiePair, cookieValue, setCookies } from '../helpers/cookies.js'
import { sessionOperationRoutes as routes } from '../helpers/store-routes.js'
import { ioDuring, recordKey, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

for (const backend of backends) {
  t.test(`${backend.name}: aiohttp-session's layout, one read per request with a cookie`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)

    const login = await inject('POST', '/login', undefined, { user: 'ada' })
    t.equal(login.statusCode, 200)
    const pair = cookiePair(login)
    const id = cookieValue(login)
    t.match(id, /^[0-9a-f]{32}$/, 'the cookie is a uuid4 in hex')
    t.match(setCookies(login)[0], /^AIOHTTP_SESSION=[0-9a-f]{32}; HttpOnly; Path=\/; SameSite=Lax$/)
    const record = JSON.parse((await backend.rawGet(recordKey(id)))!.toString('utf8'))
    t.same(record, { created: record.created, session: { user: 'ada' } }, 'the record is the envelope under cookieName_id')
    t.ok(Number.isSafeInteger(record.created))

    const [read, readIo] = await ioDuring(backend, () => inject('GET', '/read', pair))
    t.same(read.json(), { data: { user: 'ada' }, isNew: false, identity: id })
    t.same(setCookies(read), [], 'an unchanged session sends no cookie')
    t.same(readIo, { reads: 1, writes: 0, deletes: 0 }, 'a read-only request with a cookie costs exactly one read')

    const [[anonymous, health], storeless] = await ioDuring(backend, async () => [await inject('GET', '/read'), await inject('GET', '/health', pair)] as const)
    t.same(anonymous.json(), { data: {}, isNew: true, identity: null })
    t.equal(health.body, 'ok')
    t.same(storeless, { reads: 0, writes: 0, deletes: 0 }, 'no I/O without a cookie, nor on a route that opted out')

    const [update, updateIo] = await ioDuring(backend, () => inject('POST', '/set', pair, { visits: 2 }))
    t.same(updateIo, { reads: 1, writes: 1, deletes: 0 }, 'a change costs one read and one write')
    t.equal(cookiePair(update), pair, 'the same id is sent again (refreshing the cookie)')
    t.same(JSON.parse((await backend.rawGet(recordKey(id)))!.toString('utf8')).session, { user: 'ada', visits: 2 })

    const [fresh, freshIo] = await ioDuring(backend, () => inject('POST', '/set', undefined, { a: 1 }))
    t.same(freshIo, { reads: 0, writes: 1, deletes: 0 })
    t.not(cookieValue(fresh), id, 'a new session gets its own id')
  })

  t.test(`${backend.name}: loadSession called directly without a cookie answers at once, without I/O`, async (t) => {
    // Returned inside an array, so that a promise would not be awaited away.
    const [[session], io] = await ioDuring(backend, async () => [backend.storage().loadSession({ headers: {} } as FastifyRequest)] as const)
    t.notOk(session instanceof Promise, 'a Session, not a promise')
    t.match(session, { isNew: true, identity: null, empty: true })
    t.same(io, { reads: 0, writes: 0, deletes: 0 })
  })
}
