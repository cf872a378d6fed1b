/**
 * RedisStorage against the real aiohttp_session RedisStorage (through redis.asyncio,
 * see test/interop/python/shim/aioredis), both on one redis-server: the flows of
 * test/interop/suite.ts in both directions, plus the records themselves.
 */
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisStorage } from '../../storages/redis.js'
import { startRedis } from '../helpers/servers.js'
import { Browser } from './browser.js'
import { startFastify } from './fastify-service.js'
import { startPython } from './python-service.js'
import { interopSuite } from './suite.js'

const maxAge = 60
const server = await startRedis(t)
const redis = new Redis({ host: '127.0.0.1', port: server.port })
t.teardown(() => redis.quit())
const redisUrl = `redis://127.0.0.1:${server.port}/0`
const python = await startPython(t, { storage: 'redis', redisUrl, maxAge })
const fastify = await startFastify(t, new RedisStorage(redis, { maxAge }))

interopSuite(t, { kind: 'redis', python, fastify, maxAge, readRecord: (id) => redis.get(`AIOHTTP_SESSION_${id}`) })

t.test('both write a uuid4-hex id and the envelope under AIOHTTP_SESSION_<id> with EX max_age', async (t) => {
  for (const service of [python, fastify]) {
    const browser = new Browser()
    const view = await browser.write(service, '/set', { user: 'ann', n: 1 })
    const id = browser.value() as string
    t.match(id, /^[0-9a-f]{32}$/, `${service.name}: the cookie is a bare uuid4 hex`)
    t.equal((await browser.read(service)).identity, id, `${service.name}: the id is the identity`)
    const record = await redis.get(`AIOHTTP_SESSION_${id}`)
    // aiohttp writes json.dumps' spaced form; we write compact JSON (SPEC §3); each reads the other.
    t.equal(record, service === python
      ? `{"created": ${view.created}, "session": {"user": "ann", "n": 1}}`
      : `{"created":${view.created},"session":{"user":"ann","n":1}}`, `${service.name}: the record`)
    t.equal(await redis.ttl(`AIOHTTP_SESSION_${id}`), maxAge, `${service.name}: EX max_age`)

    // session.max_age = None for one response: no EX at all.
    const forever = new Browser()
    await forever.write(service, '/set?max_age=none', { user: 'ann' })
    t.equal(await redis.ttl(`AIOHTTP_SESSION_${forever.value() as string}`), -1, `${service.name}: no TTL without max_age`)
  }
})

t.test('a record that Redis expired is gone for both', async (t) => {
  for (const service of [python, fastify]) {
    const browser = new Browser()
    await browser.write(service, '/set', { user: 'ann' })
    const key = `AIOHTTP_SESSION_${browser.value() as string}`
    // Let Redis expire it for real (after 1 ms) rather than deleting it.
    await redis.pexpire(key, 1)
    while (await redis.exists(key) === 1) await new Promise((resolve) => setTimeout(resolve, 2))
    for (const reader of [python, fastify]) {
      const view = await browser.read(reader)
      t.same([view.new, view.empty, view.identity], [true, true, null], `written by ${service.name}, ${reader.name} starts anew`)
    }
  }
})

t.test('an id no server issued never reaches a 500 on ours', async (t) => {
  // Quoted with a space and a comma (Python unquotes it to "a b,c"), empty, too long,
  // or well-formed but unknown: Python finds no record; we refuse the malformed ones
  // as ids before asking Redis.
  for (const value of ['"a b\\054c"', '""', 'f'.repeat(300), '0123456789abcdef0123456789abcdef']) {
    const browser = Browser.holding(value)
    const ours = await browser.get(fastify, '/get')
    t.equal(ours.status, 200)
    t.same(ours.body, { new: true, created: (ours.body as { created: number }).created, identity: null, empty: true, session: {} })
    const theirs = await browser.read(python)
    t.same([theirs.new, theirs.empty, theirs.identity], [true, true, null])
  }
})

t.test('a custom cookie name is also the record prefix on both sides', async (t) => {
  const cookieName = 'shop_session'
  const python = await startPython(t, { storage: 'redis', redisUrl, maxAge, cookieName })
  const fastify = await startFastify(t, new RedisStorage(redis, { maxAge, cookieName }))
  for (const [from, to] of [[python, fastify], [fastify, python]] as const) {
    const browser = new Browser()
    await browser.write(from, '/set', { from: from.name })
    const id = browser.value(cookieName) as string
    t.ok(await redis.exists(`shop_session_${id}`), `${from.name} writes shop_session_<id>`)
    t.same((await browser.read(to)).session, { from: from.name }, `${to.name} reads it`)
  }
})
