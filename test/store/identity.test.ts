/**
 * Session ids: setNewIdentity() and keyFactory choose them, and an id that cannot be a
 * record key (from the cookie, the application or keyFactory) never reaches the server.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import t from 'tap'
import { MAX_RECORD_KEY_BYTES } from '../../lib/storage/store-storage.js'
import { buildApp, injector, sessionLine } from '../helpers/app.js'
import { cookiePair, setCookies } from '../helpers/cookies.js'
import { sessionOperationRoutes as routes } from '../helpers/store-routes.js'
import { ioDuring, recordKey, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

for (const backend of backends) {
  t.test(`${backend.name}: setNewIdentity() and keyFactory choose the id`, async (t) => {
    let next = 0
    const { app } = await buildApp(t, backend.storage({ keyFactory: () => `custom-${++next}` }), routes)
    const inject = injector(app)

    const made = await inject('POST', '/set', undefined, { a: 1 })
    t.equal(cookiePair(made), 'AIOHTTP_SESSION=custom-1')
    t.ok(await backend.rawGet(recordKey('custom-1')))

    const chosen = await inject('POST', '/identity', cookiePair(made), { id: 'chosen:id' })
    t.equal(cookiePair(chosen), 'AIOHTTP_SESSION=chosen:id')
    t.same((await inject('GET', '/read', 'AIOHTTP_SESSION=chosen:id')).json(), { data: { user: 'chosen' }, isNew: false, identity: 'chosen:id' })
    t.equal(await backend.rawGet(recordKey('custom-1')), null, 'the previous record is deleted')

    const quoted = await inject('POST', '/identity', undefined, { id: 'a,b"c' })
    t.equal(cookiePair(quoted), 'AIOHTTP_SESSION="a\\054b\\"c"', 'ids outside the bare set are quoted like Python does')
    t.same((await inject('GET', '/read', cookiePair(quoted))).json().data, { user: 'chosen' }, 'and read back')

    const same = await inject('POST', '/identity', 'AIOHTTP_SESSION=chosen:id', { id: 'chosen:id' })
    t.equal(cookiePair(same), 'AIOHTTP_SESSION=chosen:id', 'choosing the id being given up keeps its record')
    t.ok(await backend.rawGet(recordKey('chosen:id')))

    const regenerated = await inject('POST', '/identity', undefined, { id: 'has space', regenerate: true })
    t.equal(regenerated.statusCode, 200, 'an unusable id given up by regenerate() is not sent to the server')
    t.equal(cookiePair(regenerated), 'AIOHTTP_SESSION=custom-2')

    const [[spaced, long], io] = await ioDuring(backend, async () => [
      await inject('POST', '/identity', undefined, { id: 'has space' }),
      await inject('POST', '/identity', undefined, { id: 'x'.repeat(MAX_RECORD_KEY_BYTES) })
    ] as const)
    for (const response of [spaced, long]) {
      t.equal(response.statusCode, 500)
      t.equal(response.json().code, 'FST_SESSIONS_IDENTITY')
      t.same(setCookies(response), [])
    }
    t.match(spaced.json().message, /cannot be a .* record id: only visible ASCII/)
    t.match(long.json().message, /over the 250-byte limit/)
    t.same(io, { reads: 0, writes: 0, deletes: 0 }, 'nothing is written under an unusable id')
  })

  t.test(`${backend.name}: setNewIdentity() with an id that already has a record is refused, the record untouched`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const theirs = '{"created": 1, "session": {"owner": "someone"}}'
    await backend.rawSet(recordKey('taken'), theirs)
    const refused = await inject('POST', '/identity', undefined, { id: 'taken' })
    t.equal(refused.statusCode, 500)
    t.match(refused.json(), { code: 'FST_SESSIONS_IDENTITY', message: /id given to setNewIdentity\(\) already exists/ })
    t.same(setCookies(refused), [])
    t.equal((await backend.rawGet(recordKey('taken')))?.toString(), theirs)
  })

  t.test(`${backend.name}: a keyFactory that returns unusable ids fails the save`, async (t) => {
    const results: unknown[] = ['with space', 42]
    const { app } = await buildApp(t, backend.storage({ keyFactory: () => results.shift() as string }), routes)
    const inject = injector(app)
    const spaced = await inject('POST', '/set', undefined, { a: 1 })
    t.equal(spaced.statusCode, 500)
    t.match(spaced.json(), { code: 'FST_SESSIONS_IDENTITY', message: /keyFactory returned an unusable session id: only visible ASCII/ })
    const number = await inject('POST', '/set', undefined, { a: 1 })
    t.match(number.json(), { code: 'FST_SESSIONS_IDENTITY', message: /keyFactory returned an unusable session id: it is number/ })
    t.same(setCookies(number), [])
  })

  t.test(`${backend.name}: ids that are not valid keys are rejected before any I/O`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const longest = 'a'.repeat(MAX_RECORD_KEY_BYTES - 'AIOHTTP_SESSION_'.length)
    const cases: Array<[string, string, RegExp]> = [
      ['a space', '"a b"', /only visible ASCII/],
      ['a control character', '"a\\001b"', /only visible ASCII/],
      ['a tab', '"a\tb"', /only visible ASCII/],
      ['non-ASCII', '"caf\\351"', /only visible ASCII/],
      ['UTF-8 bytes', Buffer.from('café', 'utf8').toString('latin1'), /only visible ASCII/],
      ['an empty value', '""', /only visible ASCII/],
      ['one byte too long', longest + 'a', /the record key would be 251 bytes, over the 250-byte limit/]
    ]
    for (const [what, cookie, reason] of cases) {
      const [response, io] = await ioDuring(backend, () => inject('GET', '/read', `AIOHTTP_SESSION=${cookie}`))
      t.same(response.json(), { data: {}, isNew: true, identity: null }, what)
      t.same(io, { reads: 0, writes: 0, deletes: 0 }, `${what}: no I/O`)
      const line = sessionLine(response)
      t.match(line, { level: 40, reason: /^the cookie is not a valid session id/ }, `${what}: logged`)
      t.match(line?.['reason'], reason)
    }
    const [, io] = await ioDuring(backend, () => inject('GET', '/read', `AIOHTTP_SESSION=${longest}`))
    t.same(io, { reads: 1, writes: 0, deletes: 0 }, 'the longest valid id is looked up')
  })
}
