/**
 * MemcachedStorage against real memcached servers: the client check, exptime (the
 * 30-day rule, read back from the server with the meta command `mg <key> t`), a write
 * the server refuses, clients whose serializer returns something other than a Buffer,
 * and one client over two servers.
 */
import FakeTimers from '@sinonjs/fake-timers'
import type { FastifyInstance } from 'fastify'
import memjs from 'memjs'
import t from 'tap'
import { SessionConfigError } from '../index.js'
import { MEMCACHED_MAX_RELATIVE_EXPTIME, MemcachedStorage, memcachedExptime } from '../storages/memcached.js'
import type { MemcachedClient } from '../storages/memcached.js'
import { buildApp, cookiePair, setCookies } from './helpers/app.js'
import { rawCommand, startMemcached } from './helpers/servers.js'

const server = await startMemcached(t)
const client = memjs.Client.create(server.address)
t.teardown(() => client.close())

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.toJSON(), isNew: request.session.isNew, identity: request.session.identity }))
  app.post('/set', async (request) => {
    const { maxAge, ...data } = request.body as Record<string, unknown>
    for (const [key, value] of Object.entries(data)) request.session.set(key, value)
    if (typeof maxAge === 'number') request.session.maxAge = maxAge
    return { ok: true }
  })
  app.post('/big', async (request) => {
    // Over memcached's default 1 MB item limit (and Fastify's body limit, hence built here).
    request.session.set('big', 'x'.repeat(2 * 1024 * 1024))
    return { ok: true }
  })
}

function idOf (pair: string | undefined): string {
  if (pair === undefined) throw new Error('no session cookie was set')
  return pair.slice(pair.indexOf('=') + 1)
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
  const clock = FakeTimers.install({ now: Date.now() + offset * 1000, toFake: ['Date'] })
  t.teardown(() => { clock.uninstall() })

  const cases: Array<[number | undefined, number, number]> = [
    [undefined, -1, -1],
    [3600, 3595, 3600],
    [2592000, 2592000 - 5, 2592000],
    [2592001, 2592001 + offset - 5, 2592001 + offset + 1]
  ]
  for (const [maxAge, low, high] of cases) {
    const { app } = await buildApp(t, new MemcachedStorage(client, { maxAge }), routes)
    const response = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
    const ttl = await remainingTtl(server.port, `AIOHTTP_SESSION_${idOf(cookiePair(response))}`)
    t.ok(ttl !== null && ttl >= low && ttl <= high, `maxAge ${maxAge}: the server keeps it ${ttl} s`)
  }

  const { app } = await buildApp(t, new MemcachedStorage(client, { maxAge: 3600 }), routes)
  const response = await app.inject({ method: 'POST', url: '/set', payload: { a: 1, maxAge: 120 } })
  t.match(setCookies(response)[0], /; Max-Age=120; /)
  const ttl = await remainingTtl(server.port, `AIOHTTP_SESSION_${idOf(cookiePair(response))}`)
  t.ok(ttl !== null && ttl > 110 && ttl <= 120, `a per-session maxAge sets the exptime (${ttl})`)
})

t.test('a write the server refuses fails the request with a 503 and sets no cookie', async (t) => {
  const { app, logs } = await buildApp(t, new MemcachedStorage(client), routes)
  const response = await app.inject({ method: 'POST', url: '/big' })
  t.equal(response.statusCode, 503)
  t.match(response.json(), { code: 'FST_SESSIONS_STORAGE', message: 'fastify-sessions: the session write on Memcached failed' })
  t.same(setCookies(response), [])
  t.match(logs.find((line) => line.level === 50), { err: { type: 'SessionStorageError', message: /failed: MemJS SET: Value too large/ } })
})

t.test('a serializer that returns something other than a Buffer', async (t) => {
  function withDeserializer (deserialize: (value: Buffer) => unknown): MemcachedClient {
    return memjs.Client.create(server.address, {
      serializer: {
        serialize: (_opcode: number, value: string | Buffer, extras: Buffer) => ({ value, extras }),
        deserialize: (_opcode: number, value: Buffer, extras: Buffer) => ({ value: deserialize(value), extras })
      }
    }) as unknown as MemcachedClient
  }
  const cases: Array<[string, (value: Buffer) => unknown, string | null]> = [
    ['text', (value) => value.toString('utf8'), 'the store client returned text instead of bytes; configure it to return Buffers'],
    ['a number', () => 42, 'the store client returned number instead of bytes'],
    ['a plain Uint8Array', (value) => new Uint8Array(value), null]
  ]
  for (const [what, deserialize, reason] of cases) {
    const custom = withDeserializer(deserialize)
    t.teardown(() => custom.close())
    const { app, logs } = await buildApp(t, new MemcachedStorage(custom), routes)
    const pair = cookiePair(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))
    const read = await app.inject({ url: '/read', headers: { cookie: pair! } })
    t.equal(read.statusCode, 200, what)
    if (reason === null) {
      t.same(read.json(), { data: { a: 1 }, isNew: false, identity: idOf(pair) }, `${what} is read as bytes`)
    } else {
      t.same(read.json(), { data: {}, isNew: true, identity: null }, `${what}: a new session`)
      t.match(logs.find((line) => line.level === 40), { reason }, `${what}: a warning`)
    }
  }
})

t.test('one client over two servers: sessions spread over both, each found again', async (t) => {
  const first = await startMemcached(t)
  const second = await startMemcached(t)
  const pool = memjs.Client.create(`${first.address},${second.address}`)
  const single = [first, second].map((node) => memjs.Client.create(node.address))
  t.teardown(() => { pool.close(); for (const node of single) node.close() })
  const { app } = await buildApp(t, new MemcachedStorage(pool), routes)

  const sessions: Array<[string, number]> = []
  for (let index = 0; index < 40; index++) {
    const response = await app.inject({ method: 'POST', url: '/set', payload: { index } })
    sessions.push([cookiePair(response)!, index])
  }
  const perServer = [0, 0]
  for (const [pair] of sessions) {
    const key = `AIOHTTP_SESSION_${idOf(pair)}`
    const holders = await Promise.all(single.map(async (node) => (await node.get(key)).value !== null))
    t.equal(holders.filter(Boolean).length, 1, 'each record lives on exactly one server')
    perServer[holders.indexOf(true)]!++
  }
  t.ok(perServer[0]! > 0 && perServer[1]! > 0, `both servers hold sessions (${perServer.join(' / ')})`)

  for (const [pair, index] of sessions) {
    const read = await app.inject({ url: '/read', headers: { cookie: pair } })
    t.same(read.json().data, { index }, 'the session is found again')
  }
  const [pair] = sessions[0]!
  await app.inject({ method: 'POST', url: '/set', headers: { cookie: pair }, payload: { updated: true } })
  t.same((await app.inject({ url: '/read', headers: { cookie: pair } })).json().data, { index: 0, updated: true })
})
