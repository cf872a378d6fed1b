/**
 * Giving up a session id: invalidate(), newSession() and regenerate() delete the old
 * record (the session-fixation guard), emptying a session deletes its record, and a
 * replayed old id gives a new session under a fresh id.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import t from 'tap'
import { buildApp, injector, sessionLine } from '../helpers/app.js'
import { cookiePair, cookieValue, setCookies } from '../helpers/cookies.js'
import { sessionOperationRoutes as routes } from '../helpers/store-routes.js'
import { ioDuring, recordKey, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

for (const backend of backends) {
  t.test(`${backend.name}: invalidate() deletes the record and clears the cookie; the old id is dead`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const login = await inject('POST', '/login', undefined, { user: 'ada' })
    const pair = cookiePair(login)
    const id = cookieValue(login)

    const [logout, io] = await ioDuring(backend, () => inject('POST', '/logout', pair))
    t.equal(logout.statusCode, 200)
    t.same(setCookies(logout), ['AIOHTTP_SESSION=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Path=/; SameSite=Lax'])
    t.same(io, { reads: 1, writes: 0, deletes: 1 }, 'the record is deleted, not overwritten with {}')
    t.equal(await backend.rawGet(recordKey(id)), null)

    const replay = await inject('GET', '/read', pair)
    t.same(replay.json(), { data: {}, isNew: true, identity: null }, 'a replayed id after logout gets a new empty session')
    t.match(sessionLine(replay), { level: 20, reason: 'unknown or expired id' }, 'logged at debug')
    const again = await inject('POST', '/set', pair, { a: 1 })
    t.not(cookieValue(again), id, 'a session saved after the replay never reuses the client\'s id')
  })

  t.test(`${backend.name}: newSession() and regenerate() delete the old record (fixation guard)`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const started = await inject('POST', '/set', undefined, { keep: 'k', cart: 3 })
    const first = cookiePair(started)
    const firstId = cookieValue(started)

    const login = await inject('POST', '/login', first, { user: 'ada' })
    const second = cookiePair(login)
    const secondId = cookieValue(login)
    t.not(secondId, firstId, 'login gets a new id')
    t.equal(await backend.rawGet(recordKey(firstId)), null, 'the pre-login record is deleted')
    t.same((await inject('GET', '/read', first)).json(), { data: {}, isNew: true, identity: null }, 'replaying the pre-login id gets nothing')
    t.same((await inject('GET', '/read', second)).json().data, { user: 'ada' })

    await inject('POST', '/set', second, { keep: 'kept', other: 1 })
    const regenerated = await inject('POST', '/regenerate', second)
    const thirdId = cookieValue(regenerated)
    t.not(thirdId, secondId)
    t.equal(await backend.rawGet(recordKey(secondId)), null, 'regenerate() deletes the old record like newSession()')
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${thirdId}`)).json().data, { keep: 'kept', user: 'promoted' })

    const emptied = await inject('POST', '/new-empty', `AIOHTTP_SESSION=${thirdId}`)
    t.match(setCookies(emptied), [/^AIOHTTP_SESSION=""; /], 'newSession() left empty clears the cookie')
    t.equal(await backend.rawGet(recordKey(thirdId)), null, 'and deletes the old record')
  })

  t.test(`${backend.name}: a session emptied by clear() keeps its id and an empty record; invalidate() ends it; an empty new session writes nothing`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const written = await inject('POST', '/set', undefined, { a: 1 })

    // Emptying is a change like any other: a concurrent request's change to another key
    // must still land (test/consistency), so the record stays, empty.
    const cleared = await inject('POST', '/clear', cookiePair(written))
    t.equal(cookiePair(cleared), cookiePair(written), 'the same id is sent again')
    t.match(JSON.parse((await backend.rawGet(recordKey(cookieValue(written))))!.toString()), { session: {} }, 'the record is an empty session')
    t.same((await inject('GET', '/read', cookiePair(written))).json(), { data: {}, isNew: false, identity: cookieValue(written) })

    const loggedOut = await inject('POST', '/logout', cookiePair(written))
    t.match(setCookies(loggedOut), [/^AIOHTTP_SESSION=""; /], 'invalidate() clears the cookie')
    t.equal(await backend.rawGet(recordKey(cookieValue(written))), null, 'and deletes the record')

    const [changed, changedIo] = await ioDuring(backend, () => inject('POST', '/changed'))
    t.same(setCookies(changed), [], 'an empty new session sends no cookie')
    t.same(changedIo, { reads: 0, writes: 0, deletes: 0 }, 'and writes nothing')

    const [stale, staleIo] = await ioDuring(backend, () => inject('POST', '/changed', 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef'))
    t.match(setCookies(stale), [/^AIOHTTP_SESSION=""; /], 'a useless cookie is cleared')
    t.same(staleIo, { reads: 1, writes: 0, deletes: 0 })
  })
}
