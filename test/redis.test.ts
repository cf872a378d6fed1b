/**
 * RedisStorage against a real redis-server: the client check, TTL semantics (SET … EX,
 * per-session maxAge, refresh on save only), a write the server refuses, and a client
 * that answers with text.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { SessionConfigError } from '../index.js'
import { RedisStorage } from '../storages/redis.js'
import type { RedisClient } from '../storages/redis.js'
import { buildApp, errorLines, sessionLine } from './helpers/app.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { startRedis } from './helpers/servers.js'
import { storeRoutes as routes } from './helpers/store-routes.js'
import { recordKeyOf } from './helpers/stores.js'

const server = await startRedis(t)
const redis = new Redis({ host: '127.0.0.1', port: server.port })
const admin = new Redis({ host: '127.0.0.1', port: server.port })
t.teardown(() => { redis.disconnect(); admin.disconnect() })

t.test('the client must be an ioredis Redis or Cluster', async (t) => {
  const nodeRedisLike = { get () {}, set () {}, del () {}, isOpen: true }
  const withoutStatus = { getBuffer () {}, set () {}, del () {} }
  for (const client of [null, undefined, 'redis://127.0.0.1', {}, nodeRedisLike, withoutStatus, { getBuffer () {}, status: 'ready' }]) {
    t.throws(() => new RedisStorage(client as unknown as RedisClient), SessionConfigError)
  }
  t.throws(() => new RedisStorage(nodeRedisLike as unknown as RedisClient),
    { message: /RedisStorage expects an ioredis client, `new Redis\(\{ host, port \}\)` or `new Cluster\(\[\.\.\.\]\)` from the 'ioredis' package .*; got a plain object/ })
  t.throws(() => new RedisStorage(redis, { timeout: -1 }), { message: /timeout/ }, 'storage options are still checked')
  t.ok(new RedisStorage(redis))
})

t.test('without maxAge the record has no TTL', async (t) => {
  const { app } = await buildApp(t, new RedisStorage(redis), routes)
  const response = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  t.notMatch(setCookies(response)[0] ?? '', /Max-Age|expires/)
  t.equal(await admin.ttl(recordKeyOf(response)), -1)
})

t.test('SET … EX maxAge, per-session maxAge, refreshed by saves only', async (t) => {
  const { app } = await buildApp(t, new RedisStorage(redis, { maxAge: 3600 }), routes)
  const created = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  const pair = cookiePair(created)
  const key = recordKeyOf(created)
  t.match(setCookies(created)[0], /; Max-Age=3600; /)
  t.ok(await admin.ttl(key) > 3590, 'the TTL is the storage maxAge')

  await admin.expire(key, 100)
  const read = await app.inject({ url: '/read', headers: { cookie: pair! } })
  t.same(read.json(), { data: { a: 1 }, isNew: false, identity: cookieValue(created) })
  t.ok(await admin.ttl(key) <= 100, 'a read-only request does not refresh the TTL (as in aiohttp)')

  const shorter = await app.inject({ method: 'POST', url: '/set', headers: { cookie: pair! }, payload: { b: 2, maxAge: 120 } })
  t.match(setCookies(shorter)[0], /; Max-Age=120; /, 'session.maxAge sets the cookie lifetime')
  const ttl = await admin.ttl(key)
  t.ok(ttl > 110 && ttl <= 120, `and the record TTL (${ttl})`)

  const next = await app.inject({ method: 'POST', url: '/set', headers: { cookie: pair! }, payload: { c: 3 } })
  t.same(next.json(), { maxAge: 3600 }, 'the per-session maxAge is not persisted')
  t.ok(await admin.ttl(key) > 3590, 'each save resets the TTL')
})

t.test('a write the server refuses fails the request with a 503 and sets no cookie', async (t) => {
  const { app } = await buildApp(t, new RedisStorage(redis), routes)
  const written = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  const existing = cookiePair(written)
  // With no memory to spare and no eviction, Redis refuses writes but still serves reads.
  await admin.config('SET', 'maxmemory-policy', 'noeviction')
  await admin.config('SET', 'maxmemory', '1')
  t.teardown(() => admin.config('SET', 'maxmemory', '0'))

  const fresh = await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } })
  t.equal(fresh.statusCode, 503)
  t.match(fresh.json(), { code: 'FST_SESSIONS_STORAGE', message: 'fastify-sessions: the session write on Redis failed' })
  t.same(setCookies(fresh), [], 'no cookie for a write that did not happen')
  t.match(errorLines(fresh), [{ err: { type: 'SessionStorageError', code: 'FST_SESSIONS_STORAGE', message: /failed: OOM command not allowed/ } }],
    'the error and its cause are logged')

  const update = await app.inject({ method: 'POST', url: '/set', headers: { cookie: existing! }, payload: { a: 2 } })
  t.equal(update.statusCode, 503)
  t.same(setCookies(update), [])
  await admin.config('SET', 'maxmemory', '0')
  t.same((await app.inject({ url: '/read', headers: { cookie: existing! } })).json(), { data: { a: 1 }, isNew: false, identity: cookieValue(written) },
    'the stored session is intact')
})

t.test('a client that answers with text instead of bytes gives a new session and a warning', async (t) => {
  // The real client, with its byte reads swapped for text reads (what `decode_responses`
  // does in redis-py, which makes aiohttp-session fail with a 500).
  const textReplies = new Proxy(redis, {
    get (target, property) {
      if (property === 'getBuffer') return (key: string) => target.get(key)
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const { app } = await buildApp(t, new RedisStorage(textReplies), routes)
  const pair = cookiePair(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))
  const read = await app.inject({ url: '/read', headers: { cookie: pair! } })
  t.equal(read.statusCode, 200)
  t.same(read.json(), { data: {}, isNew: true, identity: null })
  t.match(sessionLine(read), { level: 40, reason: 'the store client returned text instead of bytes; configure it to return Buffers' })
})

t.test('a client that answers with neither bytes nor text gives a new session and a warning', async (t) => {
  // A wrapped client whose reads return something else altogether (here, a number).
  const numberReplies = new Proxy(redis, {
    get (target, property) {
      if (property === 'getBuffer') return async () => 42
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
  const { app } = await buildApp(t, new RedisStorage(numberReplies), routes)
  const pair = cookiePair(await app.inject({ method: 'POST', url: '/set', payload: { a: 1 } }))
  const read = await app.inject({ url: '/read', headers: { cookie: pair! } })
  t.equal(read.statusCode, 200)
  t.same(read.json(), { data: {}, isNew: true, identity: null })
  t.match(sessionLine(read), { level: 40, reason: 'the store client returned number instead of bytes' })
})
