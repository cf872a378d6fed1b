/**
 * Records are bounded by `maxRecordBytes`, both ways: a session whose record would be
 * larger fails its save with a SessionTooLargeError (500) before anything is sent to the
 * store, and a larger record found in the store is not decoded (a new session, logged).
 * The default fits memcached's default item size limit with the longest key we write.
 * Run for RedisStorage and MemcachedStorage against a real redis-server and memcached;
 * store I/O is counted by the servers themselves.
 */
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { defaultKeyFactory } from '../../lib/storage/store-storage.js'
import { DEFAULT_MAX_RECORD_BYTES } from '../../lib/storage/options.js'
import { buildApp, errorLines, injector, sessionLine } from '../helpers/app.js'
import { fakeDate } from '../helpers/clock.js'
import { cookiePair, cookieValue, setCookies } from '../helpers/cookies.js'
import { storeRoutes } from '../helpers/store-routes.js'
import { ioDuring, recordKey, recordKeyOf, storeBackends } from '../helpers/stores.js'

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first backend could otherwise reach.
const backends = await Promise.all(storeBackends.map(async (start) => await start(t)))

/**
 * storeRoutes, and /fill, which sets `blob` to `size` times `character` (built here:
 * a megabyte is over Fastify's body limit), and /blob, which tells its length.
 */
function routes (app: FastifyInstance): void {
  storeRoutes(app)
  app.post('/fill', async (request) => {
    const { size, character } = request.body as { size: number, character: string }
    request.session.set('blob', character.repeat(size))
    return { ok: true }
  })
  app.get('/blob', async (request) => ({ length: (request.session.get('blob') as string | undefined)?.length ?? null, isNew: request.session.isNew }))
}

/** The record bytes of a session whose blob is empty: what the envelope adds (`created` is frozen). */
function overheadOf (): number {
  return Buffer.byteLength(JSON.stringify({ created: 1_700_000_000, session: { blob: '' } }))
}

for (const backend of backends) {
  t.test(`${backend.name}: a record over maxRecordBytes is refused before anything is sent`, async (t) => {
    fakeDate(t, 1_700_000_000)
    const limit = 300
    const { app } = await buildApp(t, backend.storage({ maxRecordBytes: limit }), routes)
    const inject = injector(app)
    const room = limit - overheadOf()

    const [atLimit, atLimitIo] = await ioDuring(backend, () => inject('POST', '/fill', undefined, { size: room, character: 'x' }))
    t.equal(atLimit.statusCode, 200, 'a record of exactly maxRecordBytes is written')
    t.equal((await backend.rawGet(recordKeyOf(atLimit)))?.length, limit)
    t.same(atLimitIo, { reads: 0, writes: 1, deletes: 0 })

    const [over, overIo] = await ioDuring(backend, () => inject('POST', '/fill', undefined, { size: room + 1, character: 'x' }))
    t.equal(over.statusCode, 500)
    t.same(over.json(), {
      statusCode: 500,
      code: 'FST_SESSIONS_TOO_LARGE',
      error: 'Internal Server Error',
      message: `fastify-sessions: the session record would be ${limit + 1} bytes, over the ${limit}-byte limit (maxRecordBytes); ` +
        'store less in the session (a session this large usually holds data that belongs in a database or a cache), or raise maxRecordBytes'
    })
    t.same(overIo, { reads: 0, writes: 0, deletes: 0 }, 'nothing was sent to the store')
    t.same(setCookies(over), [], 'and no cookie')
    t.match(errorLines(over), [{ err: { type: 'SessionTooLargeError', size: limit + 1, limit, subject: 'record' } }])

    // Bytes, not characters: 'é' is one UTF-16 unit and two UTF-8 bytes.
    const half = Math.floor(room / 2)
    t.equal((await inject('POST', '/fill', undefined, { size: half, character: 'é' })).statusCode, 200, `${half} × 'é' (${half * 2} bytes) fits`)
    const [wide, wideIo] = await ioDuring(backend, () => inject('POST', '/fill', undefined, { size: half + 1, character: 'é' }))
    t.equal(wide.statusCode, 500, `${half + 1} × 'é' (${(half + 1) * 2} bytes) does not, though it is fewer characters than the limit`)
    t.match(wide.json(), { message: new RegExp(`would be ${limit - room + (half + 1) * 2} bytes`) })
    t.same(wideIo, { reads: 0, writes: 0, deletes: 0 })

    const existing = cookiePair(atLimit)!
    const [grown, grownIo] = await ioDuring(backend, () => inject('POST', '/fill', existing, { size: room + 1, character: 'x' }))
    t.equal(grown.statusCode, 500, 'an existing session that grows past the limit')
    t.same(grownIo, { reads: 1, writes: 0, deletes: 0 }, 'is read, and not written')
    t.same((await inject('GET', '/blob', existing)).json(), { length: room, isNew: false }, 'its record is as it was')
  })

  t.test(`${backend.name}: a stored record over maxRecordBytes is not decoded: a new session, and a warning`, async (t) => {
    const limit = 300
    const { app } = await buildApp(t, backend.storage({ maxRecordBytes: limit }), routes)
    const inject = injector(app)
    const created = Math.floor(Date.now() / 1000)
    const envelope = JSON.stringify({ created, session: { blob: '' } }).length
    const record = (size: number): string => JSON.stringify({ created, session: { blob: 'y'.repeat(size - envelope) } })

    const fits = defaultKeyFactory()
    await backend.rawSet(recordKey(fits), record(limit))
    t.same((await inject('GET', '/blob', `AIOHTTP_SESSION=${fits}`)).json(), { length: limit - envelope, isNew: false },
      'a record of exactly maxRecordBytes loads')

    const big = defaultKeyFactory()
    await backend.rawSet(recordKey(big), record(limit + 1))
    const response = await inject('GET', '/blob', `AIOHTTP_SESSION=${big}`)
    t.equal(response.statusCode, 200)
    t.same(response.json(), { length: null, isNew: true })
    t.match(sessionLine(response), { level: 40, reason: `the stored record is ${limit + 1} bytes, over maxRecordBytes (${limit})` })
    const saved = await inject('POST', '/set', `AIOHTTP_SESSION=${big}`, { a: 1 })
    t.not(cookieValue(saved), big, 'saving afterwards uses a fresh id, as for any refused record')
    t.equal((await backend.rawGet(recordKey(big)))?.length, limit + 1, 'the other application\'s record is left alone')
  })

  t.test(`${backend.name}: the default (${DEFAULT_MAX_RECORD_BYTES} bytes) is written and read back with a 250-byte key`, async (t) => {
    fakeDate(t, 1_700_000_000)
    // The longest cookie name that leaves room for a default id: record keys of 250
    // bytes, memcached's longest, whose item header leaves the value the least room.
    const cookieName = 'S'.repeat(250 - 1 - 32)
    const { app } = await buildApp(t, backend.storage({ cookieName }), routes)
    const inject = injector(app)
    const room = DEFAULT_MAX_RECORD_BYTES - overheadOf()

    const written = await inject('POST', '/fill', undefined, { size: room, character: 'z' })
    t.equal(written.statusCode, 200, 'the largest record the default allows is accepted by the store')
    const key = recordKeyOf(written, cookieName)
    t.equal(Buffer.byteLength(key), 250)
    t.equal((await backend.rawGet(key))?.length, DEFAULT_MAX_RECORD_BYTES)
    t.same((await inject('GET', '/blob', cookiePair(written, cookieName))).json(), { length: room, isNew: false }, 'and read back')

    const over = await inject('POST', '/fill', undefined, { size: room + 1, character: 'z' })
    t.equal(over.statusCode, 500, 'one byte more is refused by us, before the store sees it')
    t.match(over.json(), { code: 'FST_SESSIONS_TOO_LARGE', message: /would be 1047553 bytes, over the 1047552-byte limit/ })
    t.match(errorLines(over), [{ err: { type: 'SessionTooLargeError', size: DEFAULT_MAX_RECORD_BYTES + 1 } }])
  })
}
