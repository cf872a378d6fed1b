/**
 * The behaviour RedisStorage and MemcachedStorage share (StoreStorage), run against a
 * real redis-server and a real memcached started here. Store I/O is counted by the
 * servers themselves (Redis `INFO commandstats`, memcached `stats`).
 */
import type { FastifyInstance, FastifyRequest, LightMyRequestResponse } from 'fastify'
import Fastify from 'fastify'
import t from 'tap'
import sessionPlugin, { SessionConfigError, getSession } from '../../index.js'
import { MAX_RECORD_KEY_BYTES, defaultKeyFactory } from '../../lib/storage/store-storage.js'
import { buildApp, sessionLine } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { cookiePair, cookieValue, setCookies } from '../helpers/cookies.js'
import { ioDuring, memcachedBackend, redisBackend } from '../helpers/stores.js'

interface SessionView {
  data: Record<string, unknown>
  isNew: boolean
  identity: string | null
}

function routes (app: FastifyInstance): void {
  const view = (request: { session: { toJSON (): object, isNew: boolean, identity: string | null } }): SessionView =>
    ({ data: { ...request.session.toJSON() }, isNew: request.session.isNew, identity: request.session.identity })
  app.get('/read', async (request) => view(request))
  app.post('/set', async (request) => {
    for (const [key, value] of Object.entries(request.body as Record<string, unknown>)) request.session.set(key, value)
    return view(request)
  })
  app.post('/login', async (request) => {
    const session = request.newSession()
    session.set('user', (request.body as { user: string }).user)
    return view(request)
  })
  app.post('/logout', async (request) => {
    request.session.invalidate()
    return view(request)
  })
  app.post('/regenerate', async (request) => {
    request.session.regenerate(['keep'])
    request.session.set('user', 'promoted')
    return view(request)
  })
  app.post('/new-empty', async (request) => {
    request.newSession()
    return view(request)
  })
  app.post('/changed', async (request) => {
    request.session.changed()
    return view(request)
  })
  app.post('/clear', async (request) => {
    request.session.clear()
    return view(request)
  })
  app.post('/identity', async (request) => {
    const session = request.newSession()
    session.setNewIdentity((request.body as { id: string }).id)
    if ((request.body as { regenerate?: boolean }).regenerate === true) session.regenerate()
    session.set('user', 'chosen')
    return view(request)
  })
  app.get('/health', { config: { session: false } }, async () => 'ok')
}

type Inject = (method: 'GET' | 'POST', url: string, cookie?: string, body?: object) => Promise<LightMyRequestResponse>

function injector (app: FastifyInstance): Inject {
  return async (method, url, cookie, body) => app.inject({
    method,
    url,
    ...(cookie === undefined ? {} : { headers: { cookie } }),
    ...(body === undefined ? {} : { payload: body })
  })
}

const backends = [redisBackend, memcachedBackend]

for (const makeBackend of backends) {
  const backend = await makeBackend(t)
  const key = (id: string): string => `AIOHTTP_SESSION_${id}`

  t.test(`${backend.name}: aiohttp-session's layout, one read per request with a cookie`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)

    const login = await inject('POST', '/login', undefined, { user: 'ada' })
    t.equal(login.statusCode, 200)
    const pair = cookiePair(login)
    const id = cookieValue(login)
    t.match(id, /^[0-9a-f]{32}$/, 'the cookie is a uuid4 in hex')
    t.match(setCookies(login)[0], /^AIOHTTP_SESSION=[0-9a-f]{32}; HttpOnly; Path=\/; SameSite=Lax$/)
    const record = JSON.parse((await backend.rawGet(key(id)))!.toString('utf8'))
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
    t.same(JSON.parse((await backend.rawGet(key(id)))!.toString('utf8')).session, { user: 'ada', visits: 2 })

    const [fresh, freshIo] = await ioDuring(backend, () => inject('POST', '/set', undefined, { a: 1 }))
    t.same(freshIo, { reads: 0, writes: 1, deletes: 0 })
    t.not(cookieValue(fresh), id, 'a new session gets its own id')
  })

  t.test(`${backend.name}: in hooks that run before the plugin's, cookieless requests have a session at once`, async (t) => {
    const storage = backend.storage()
    const app = Fastify()
    t.teardown(() => app.close())
    const seen: string[] = []
    app.addHook('onRequest', async (request) => {
      if (request.headers.cookie === undefined) {
        seen.push(`anonymous: isNew ${String(request.session.isNew)}`)
      } else {
        t.throws(() => request.session, { name: 'SessionNotAvailableError' }, 'with a cookie the record is not read yet…')
        seen.push(`with cookie: ${String((await getSession(request)).get('user'))}`)
      }
    })
    await app.register(sessionPlugin, storage)
    routes(app)
    const login = await app.inject({ method: 'POST', url: '/login', payload: { user: 'eve' } })
    const [, io] = await ioDuring(backend, () => app.inject({ url: '/read', headers: { cookie: cookiePair(login) as string } }))
    t.same(seen, ['anonymous: isNew true', 'with cookie: eve'], '…and getSession() reads it')
    t.same(io, { reads: 1, writes: 0, deletes: 0 }, 'once: the plugin does not read it again')
  })

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
    t.equal(await backend.rawGet(key(id)), null)

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
    t.equal(await backend.rawGet(key(firstId)), null, 'the pre-login record is deleted')
    t.same((await inject('GET', '/read', first)).json(), { data: {}, isNew: true, identity: null }, 'replaying the pre-login id gets nothing')
    t.same((await inject('GET', '/read', second)).json().data, { user: 'ada' })

    await inject('POST', '/set', second, { keep: 'kept', other: 1 })
    const regenerated = await inject('POST', '/regenerate', second)
    const thirdId = cookieValue(regenerated)
    t.not(thirdId, secondId)
    t.equal(await backend.rawGet(key(secondId)), null, 'regenerate() deletes the old record like newSession()')
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${thirdId}`)).json().data, { keep: 'kept', user: 'promoted' })

    const emptied = await inject('POST', '/new-empty', `AIOHTTP_SESSION=${thirdId}`)
    t.match(setCookies(emptied), [/^AIOHTTP_SESSION=""; /], 'newSession() left empty clears the cookie')
    t.equal(await backend.rawGet(key(thirdId)), null, 'and deletes the old record')
  })

  t.test(`${backend.name}: emptying a session deletes its record; an empty new session writes nothing`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const written = await inject('POST', '/set', undefined, { a: 1 })

    const cleared = await inject('POST', '/clear', cookiePair(written))
    t.match(setCookies(cleared), [/^AIOHTTP_SESSION=""; /])
    t.equal(await backend.rawGet(key(cookieValue(written))), null)

    const [changed, changedIo] = await ioDuring(backend, () => inject('POST', '/changed'))
    t.same(setCookies(changed), [], 'an empty new session sends no cookie')
    t.same(changedIo, { reads: 0, writes: 0, deletes: 0 }, 'and writes nothing')

    const [stale, staleIo] = await ioDuring(backend, () => inject('POST', '/changed', 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef'))
    t.match(setCookies(stale), [/^AIOHTTP_SESSION=""; /], 'a useless cookie is cleared')
    t.same(staleIo, { reads: 1, writes: 0, deletes: 0 })
  })

  t.test(`${backend.name}: setNewIdentity() and keyFactory choose the id`, async (t) => {
    let next = 0
    const { app } = await buildApp(t, backend.storage({ keyFactory: () => `custom-${++next}` }), routes)
    const inject = injector(app)

    const made = await inject('POST', '/set', undefined, { a: 1 })
    t.equal(cookiePair(made), 'AIOHTTP_SESSION=custom-1')
    t.ok(await backend.rawGet(key('custom-1')))

    const chosen = await inject('POST', '/identity', cookiePair(made), { id: 'chosen:id' })
    t.equal(cookiePair(chosen), 'AIOHTTP_SESSION=chosen:id')
    t.same((await inject('GET', '/read', 'AIOHTTP_SESSION=chosen:id')).json(), { data: { user: 'chosen' }, isNew: false, identity: 'chosen:id' })
    t.equal(await backend.rawGet(key('custom-1')), null, 'the previous record is deleted')

    const quoted = await inject('POST', '/identity', undefined, { id: 'a,b"c' })
    t.equal(cookiePair(quoted), 'AIOHTTP_SESSION="a\\054b\\"c"', 'ids outside the bare set are quoted like Python does')
    t.same((await inject('GET', '/read', cookiePair(quoted))).json().data, { user: 'chosen' }, 'and read back')

    const same = await inject('POST', '/identity', 'AIOHTTP_SESSION=chosen:id', { id: 'chosen:id' })
    t.equal(cookiePair(same), 'AIOHTTP_SESSION=chosen:id', 'choosing the id being given up keeps its record')
    t.ok(await backend.rawGet(key('chosen:id')))

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

  t.test(`${backend.name}: unreadable records give a new empty session and a log line, never a 500`, async (t) => {
    const { app } = await buildApp(t, backend.storage(), routes)
    const inject = injector(app)
    const cases: Array<[string, string | Buffer, string, number]> = [
      ['bad JSON', '{"created": 1, "sess', 'the payload could not be decoded (not JSON?)', 40],
      ['a number', '1', 'not an object', 40],
      ['a string', '"text"', 'not an object', 40],
      ['an array', '[1]', 'not an object', 40],
      ['null', 'null', 'not an object', 40],
      ['session not an object', '{"created": 1, "session": 3}', 'session is not an object', 40],
      ['{} (what aiohttp-session stores on invalidate)', '{}', 'empty', 20],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'the stored record is not valid UTF-8', 40]
    ]
    for (const [what, value, reason, level] of cases) {
      const id = defaultKeyFactory()
      await backend.rawSet(key(id), value)
      const response = await inject('GET', '/read', `AIOHTTP_SESSION=${id}`)
      t.equal(response.statusCode, 200, what)
      t.same(response.json(), { data: {}, isNew: true, identity: null }, `${what}: a new session, not the client's id`)
      t.match(sessionLine(response), { level, reason, cookieName: 'AIOHTTP_SESSION' }, `${what}: logged`)
      const saved = await inject('POST', '/set', `AIOHTTP_SESSION=${id}`, { a: 1 })
      t.not(cookieValue(saved), id, `${what}: saving afterwards uses a fresh id`)
    }
    const python = defaultKeyFactory()
    const created = Math.floor(Date.now() / 1000)
    await backend.rawSet(key(python), `{"created": ${created}, "session": {"caf\\u00e9": "\\ud83d\\ude00", "n": [1.0, null]}}`)
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${python}`)).json(), { data: { café: '😀', n: [1, null] }, isNew: false, identity: python },
      'a record as aiohttp-session writes it (json.dumps spacing, \\u escapes) loads')
    const legacy = defaultKeyFactory()
    await backend.rawSet(key(legacy), '{"session": {"from": "python"}}')
    t.same((await inject('GET', '/read', `AIOHTTP_SESSION=${legacy}`)).json(), { data: { from: 'python' }, isNew: false, identity: legacy },
      'an envelope without created loads, as in aiohttp')
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

  t.test(`${backend.name}: the envelope's created is checked against maxAge on load`, async (t) => {
    const start = 1_700_000_000
    const clock = fakeDate(t, start)
    const { app } = await buildApp(t, backend.storage({ maxAge: 60 }), routes)
    const inject = injector(app)
    const written = await inject('POST', '/set', undefined, { a: 1 })
    const pair = cookiePair(written)
    t.equal(JSON.parse((await backend.rawGet(key(cookieValue(written))))!.toString('utf8')).created, start)

    clock.setSystemTime((start + 60) * 1000)
    t.same((await inject('GET', '/read', pair)).json().data, { a: 1 }, 'age == maxAge is still valid')
    clock.setSystemTime((start + 61) * 1000)
    const expired = await inject('GET', '/read', pair)
    t.same(expired.json(), { data: {}, isNew: true, identity: null }, 'older is a new session')
    t.match(sessionLine(expired), { level: 20, reason: 'expired' })
  })

  t.test(`${backend.name}: options are validated at construction`, async (t) => {
    t.throws(() => backend.storage({ timeout: 0 }), SessionConfigError)
    t.throws(() => backend.storage({ timeout: 1.5 }), { message: /timeout must be a whole number of milliseconds from 1 to 2147483647; got 1.5/ })
    t.throws(() => backend.storage({ timeout: 2 ** 31 }), SessionConfigError)
    t.throws(() => backend.storage({ timeout: '100' as unknown as number }), { message: /got a string of 3 characters/ })
    t.throws(() => backend.storage({ keyFactory: 'uuid' as unknown as () => string }), { message: /keyFactory must be a function/ })
    t.throws(() => backend.storage({ cookieName: 'x'.repeat(250) }), { message: /cookieName is too long for .*Storage: record keys/ })
    const storage = backend.storage({ timeout: 250, cookieName: 'sid' })
    t.equal(storage.timeout, 250)
    t.equal(storage.recordKey('abc'), 'sid_abc')
    t.equal(backend.storage().timeout, 1000, 'the default bound is one second')
  })

  t.test(`${backend.name}: loadSession called directly without a cookie answers at once, without I/O`, async (t) => {
    // Returned inside an array, so that a promise would not be awaited away.
    const [[session], io] = await ioDuring(backend, async () => [backend.storage().loadSession({ headers: {} } as FastifyRequest)] as const)
    t.notOk(session instanceof Promise, 'a Session, not a promise')
    t.match(session, { isNew: true, identity: null, empty: true })
    t.same(io, { reads: 0, writes: 0, deletes: 0 })
  })
}
