/**
 * MemcachedStorage against real memcached servers: the client check, exptime (the
 * 30-day rule, read back from the server with the meta command `mg <key> t`), a record
 * the server refuses as too large, clients with a serializer (records stay raw bytes, flags 0),
 * and one client over two servers.
 */
import type { FastifyInstance } from 'fastify'
import memjs from 'memjs'
import t from 'tap'
import { SessionConfigError } from '../index.js'
import { MEMCACHED_MAX_RELATIVE_EXPTIME, MemcachedStorage, memcachedExptime } from '../storages/memcached.js'
import type { MemcachedClient } from '../storages/memcached.js'
import { buildApp, errorLines } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { rawCommand, startMemcached } from './helpers/servers.js'
import { storeRoutes } from './helpers/store-routes.js'
import { recordKeyOf } from './helpers/stores.js'

const server = await startMemcached(t)
const client = memjs.Client.create(server.address)
t.teardown(() => client.close())

function routes (app: FastifyInstance): void {
  storeRoutes(app)
  app.post('/big', async (request) => {
    // Over memcached's default 1 MB item limit (and Fastify's body limit, hence built here).
    request.session.set('big', 'x'.repeat(2 * 1024 * 1024))
    return { ok: true }
  })
}

/** Seconds the server will keep the item (-1: forever), or null when it has none. */
async function remainingTtl (port: number, key: string): Promise<number | null> {
  const answer = await rawCommand(port, `mg ${key} t\r\nquit\r\n`)
  if (answer.startsWith('EN')) return null
  const match = /^HD t(-?\d+)\r\n/.exec(answer)
  if (match === null) throw new Error(`unexpected answer to mg: ${JSON.stringify(answer)}`)
  return Number(match[1])
}

t.test('the client must be a memjs client', async (t) => {
  const otherClient = { get () {}, set () {}, del () {} }
  const withoutServers = { get () {}, set () {}, delete () {} }
  for (const candidate of [null, 'localhost:11211', {}, otherClient, withoutServers, { get () {}, servers: [] }]) {
    t.throws(() => new MemcachedStorage(candidate as unknown as MemcachedClient), SessionConfigError)
  }
  t.throws(() => new MemcachedStorage(otherClient as unknown as MemcachedClient),
    { message: /MemcachedStorage expects a memjs client, `memjs.Client.create\('host:port'\)` from the 'memjs' package .*; got a plain object/ })
  t.ok(new MemcachedStorage(client))
})

t.test('memcachedExptime: relative up to 30 days, absolute above, 0 without maxAge', async (t) => {
  const now = 1_700_000_000
  t.equal(MEMCACHED_MAX_RELATIVE_EXPTIME, 2592000)
  t.equal(memcachedExptime(undefined, now), 0)
  t.equal(memcachedExptime(1, now), 1)
  t.equal(memcachedExptime(3600, now), 3600)
  t.equal(memcachedExptime(2592000, now), 2592000, 'exactly 30 days is still relative')
  t.equal(memcachedExptime(2592001, now), now + 2592001, 'above 30 days is a unix time')
})

t.test('the server keeps each record for maxAge seconds', async (t) => {
  // Date runs 1000 s ahead of the server's clock: an absolute exptime computed from it
  // shows up as 1000 s more on the server, a relative one does not.
  const offset = 1000
  fakeDate(t, Date.now() / 1000 + offset)

  const cases: Array<[number | undefined, number, number]> = [
    [undefined, -1, -1],
    [3600, 3595, 3600],
    [2592000, 2592000 - 5, 2592000],
    [2592001, 2592001 + offset - 5, 2592001 + offset + 1]
  ]
  for (const [maxAge, low, high] of cases) {
    const { app } = await buildApp(t, new MemcachedStorage(client, { maxAge }), routes)
    const response = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
    const ttl = await remainingTtl(server.port, recordKeyOf(response))
    t.ok(ttl !== null && ttl >= low && ttl <= high, `maxAge ${maxAge}: the server keeps it ${ttl} s`)
  }

  const { app } = await buildApp(t, new MemcachedStorage(client, { maxAge: 3600 }), routes)
  const response = await app.inject({ method: 'POST', url: '/set', payload: { a: 1, maxAge: 120 } })
  t.match(setCookies(response)[0], /; Max-Age=120; /)
  const ttl = await remainingTtl(server.port, recordKeyOf(response))
  t.ok(ttl !== null && ttl > 110 && ttl <= 120, `a per-session maxAge sets the exptime (${ttl})`)
})

t.test('a record memcached refuses as over its item size limit is a SessionTooLargeError (500), not an outage (503)', async (t) => {
  // maxRecordBytes above memcached's 1 MB item limit, so that the record reaches the
  // server (only its answer, status 0x0003, makes this message); one failure would open the breaker, if this one counted as a store failure.
  const storage = new MemcachedStorage(client, { maxRecordBytes: 4 * 1024 * 1024, circuitBreaker: { failureThreshold: 1 } })
  const { app } = await buildApp(t, storage, routes)
  const response = await app.inject({ method: 'POST', url: '/big' })
  t.equal(response.statusCode, 500)
  t.match(response.json(), {
    code: 'FST_SESSIONS_TOO_LARGE',
    message: /^fastify-sessions: Memcached refused the \d+-byte session record as over its item size limit; store less in the session .*, or set maxRecordBytes below the server's limit/
  })
  t.same(setCookies(response), [])
  const [line] = errorLines(response)
  t.match(line, { err: { type: 'SessionTooLargeError', code: 'FST_SESSIONS_TOO_LARGE', subject: 'record', size: Number } })
  t.notOk(line !== undefined && 'limit' in (line['err'] as object), 'no limit: memcached does not say it')

  const next = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  t.equal(next.statusCode, 200, 'the store answered: the refusal did not count as a store failure')

  // The same refusal of a compare-and-set (a loaded session grown too big): a 500, the
  // record as it was, and still no store failure counted.
  const cookie = cookiePair(next)
  const grown = await app.inject({ method: 'POST', url: '/big', headers: { cookie } })
  t.equal(grown.statusCode, 500)
  t.match(grown.json(), { code: 'FST_SESSIONS_TOO_LARGE', message: /^fastify-sessions: Memcached refused the \d+-byte session record/ })
  t.same(setCookies(grown), [])
  const read = await app.inject({ method: 'GET', url: '/read', headers: { cookie } })
  t.equal(read.statusCode, 200, 'the store answered: the refusal did not count as a store failure')
  t.same(read.json().data, { a: 1 }, 'the record is as it was')
})

t.test('records are raw bytes with flags 0, whatever serializer the client has', async (t) => {
  // memjs applies a client's serializer in its own get/set; the storage speaks the binary
  // protocol itself, so the records stay aiohttp-session's bytes whatever the client is
  // configured to do with its other values.
  function withSerializer (serialize: (value: string | Buffer) => string | Buffer, deserialize: (value: Buffer) => unknown): MemcachedClient {
    return memjs.Client.create(server.address, {
      serializer: {
        serialize: (_opcode: number, value: string | Buffer) => ({ value: serialize(value), extras: Buffer.from('0000000700000000', 'hex') }),
        deserialize: (_opcode: number, value: Buffer, extras: Buffer) => ({ value: deserialize(value), extras })
      }
    }) as unknown as MemcachedClient
  }
  const cases: Array<[string, MemcachedClient]> = [
    ['text', withSerializer((value) => value, (value) => value.toString('utf8'))],
    ['a number', withSerializer((value) => value, () => 42)],
    ['JSON', withSerializer((value) => JSON.stringify(String(value)), (value) => JSON.parse(value.toString('utf8')))]
  ]
  for (const [what, custom] of cases) {
    t.teardown(() => custom.close())
    const { app } = await buildApp(t, new MemcachedStorage(custom), routes)
    const written = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
    const read = await app.inject({ url: '/read', headers: { cookie: cookiePair(written)! } })
    t.same(read.json(), { data: { a: 1 }, isNew: false, identity: cookieValue(written) }, `${what}: the session is read back`)
    const item = await rawCommand(server.port, `mg AIOHTTP_SESSION_${cookieValue(written)} v f\r\nquit\r\n`)
    t.match(item, /^VA \d+ f0\r\n\{"created":\d+,"session":\{"a":1\}\}\r\n/, `${what}: the record is the envelope itself, flags 0`)
  }
})

t.test('one client over two servers: sessions spread over both, each found again', async (t) => {
  const first = await startMemcached(t)
  const second = await startMemcached(t)
  const pool = memjs.Client.create(`${first.address},${second.address}`)
  const single = [first, second].map((node) => memjs.Client.create(node.address))
  t.teardown(() => { pool.close(); for (const node of single) node.close() })
  const { app } = await buildApp(t, new MemcachedStorage(pool), routes)

  const sessions: Array<[string, string, number]> = []
  for (let index = 0; index < 40; index++) {
    const response = await app.inject({ method: 'POST', url: '/set', payload: { index } })
    sessions.push([cookiePair(response)!, recordKeyOf(response), index])
  }
  const perServer = [0, 0]
  for (const [, key] of sessions) {
    const holders = await Promise.all(single.map(async (node) => (await node.get(key)).value !== null))
    t.equal(holders.filter(Boolean).length, 1, 'each record lives on exactly one server')
    perServer[holders.indexOf(true)]!++
  }
  t.ok(perServer[0]! > 0 && perServer[1]! > 0, `both servers hold sessions (${perServer.join(' / ')})`)

  for (const [pair, , index] of sessions) {
    const read = await app.inject({ url: '/read', headers: { cookie: pair } })
    t.same(read.json().data, { index }, 'the session is found again')
  }
  const [pair] = sessions[0]!
  await app.inject({ method: 'POST', url: '/set', headers: { cookie: pair }, payload: { updated: true } })
  t.same((await app.inject({ url: '/read', headers: { cookie: pair } })).json().data, { index: 0, updated: true })
})
