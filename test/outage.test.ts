/**
 * Store outages, played for real: the server is killed, restarted on the same port,
 * frozen (SIGSTOP: connections stay open but nothing answers) and thawed, mid-test.
 * The clients are built the way users build them, with default options; the bound on
 * the wait comes from the storage alone.
 *
 * A request that needs the store fails within the bound with a 503 and a logged
 * SessionStorageError, requests that do not need it are unaffected, the app recovers
 * by itself, and nothing rejects unhandled or hangs.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import type { Test } from 'tap'
import type { StoreStorage } from '../lib/storage/store-storage.js'
import { MemcachedStorage } from '../storages/memcached.js'
import { RedisStorage } from '../storages/redis.js'
import { buildApp, cookiePair, setCookies } from './helpers/app.js'
import type { LogLine } from './helpers/app.js'
import { startMemcached, startRedis } from './helpers/servers.js'
import type { ServerProcess } from './helpers/servers.js'

/** The default bound, plus what a loaded CI machine may add to a request. */
const DEFAULT_BOUND = 1000
const SLACK = 300

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

function routes (app: FastifyInstance): void {
  app.get('/read', async (request) => ({ data: request.session.toJSON(), isNew: request.session.isNew }))
  app.post('/login', async (request) => {
    request.newSession().set('user', 'ada')
    return { ok: true }
  })
  app.post('/logout', async (request) => {
    request.session.invalidate()
    return { ok: true }
  })
  app.get('/health', { config: { session: false } }, async () => 'ok')
}

interface Timed {
  response: LightMyRequestResponse
  elapsed: number
}

async function timed (app: FastifyInstance, method: 'GET' | 'POST', url: string, cookie?: string): Promise<Timed> {
  const start = performance.now()
  const response = await app.inject({ method, url, ...(cookie === undefined ? {} : { headers: { cookie } }) })
  return { response, elapsed: Math.round(performance.now() - start) }
}

function storageErrors (logs: LogLine[]): LogLine[] {
  return logs.filter((line) => line.level === 50 && (line['err'] as { type?: string } | undefined)?.type === 'SessionStorageError')
}

/**
 * Polls until the app can log in and read that session back: the client reconnects on
 * its own schedule, and answers to commands sent before an outage may still trickle in
 * (memjs can lose one response then; the storage turns that into a bounded 503).
 */
async function recovered (app: FastifyInstance, deadline = 15000): Promise<string> {
  const until = Date.now() + deadline
  while (Date.now() < until) {
    const login = await app.inject({ method: 'POST', url: '/login' })
    if (login.statusCode === 200) {
      const cookie = cookiePair(login)!
      const read = await app.inject({ url: '/read', headers: { cookie } })
      if (read.statusCode === 200 && read.json().isNew === false) return cookie
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the app did not recover within ${deadline} ms`)
}

/** What must hold while the store cannot be used, whatever the reason. */
async function checkUnavailable (t: Test, app: FastifyInstance, logs: LogLine[], cookie: string, bound: number): Promise<void> {
  const errorsBefore = storageErrors(logs).length
  const needingTheStore = await Promise.all([
    timed(app, 'GET', '/read', cookie),
    timed(app, 'GET', '/read', cookie),
    timed(app, 'POST', '/login'),
    timed(app, 'POST', '/logout', cookie)
  ])
  for (const [index, { response, elapsed }] of needingTheStore.entries()) {
    t.equal(response.statusCode, 503, `request ${index}: 503`)
    t.match(response.json(), { code: 'FST_SESSIONS_STORAGE', error: 'Service Unavailable' })
    t.same(setCookies(response), [], `request ${index}: no cookie`)
    t.ok(elapsed <= bound + SLACK, `request ${index} failed in ${elapsed} ms (bound ${bound} ms)`)
  }
  t.ok(storageErrors(logs).length >= errorsBefore + needingTheStore.length, 'each failure is logged as a SessionStorageError')

  const anonymous = await timed(app, 'GET', '/read')
  t.same(anonymous.response.json(), { data: {}, isNew: true }, 'a request without a cookie is unaffected')
  const health = await timed(app, 'GET', '/health', cookie)
  t.equal(health.response.body, 'ok', 'an opted-out route is unaffected')
  t.ok(anonymous.elapsed < 200 && health.elapsed < 200, `and they are not slowed down (${anonymous.elapsed} ms, ${health.elapsed} ms)`)
}

async function outageScenario (t: Test, server: ServerProcess, storage: StoreStorage): Promise<void> {
  const { app, logs } = await buildApp(t, storage, routes)

  const before = await recovered(app)
  t.same((await app.inject({ url: '/read', headers: { cookie: before } })).json(), { data: { user: 'ada' }, isNew: false })

  await t.test('server killed', async (t) => {
    await server.stop()
    await checkUnavailable(t, app, logs, before, DEFAULT_BOUND)
  })

  await t.test('server restarted: the app recovers by itself', async (t) => {
    await server.start()
    const after = await recovered(app)
    t.same((await app.inject({ url: '/read', headers: { cookie: after } })).json(), { data: { user: 'ada' }, isNew: false },
      'new sessions are written and read again')
    const stale = await app.inject({ url: '/read', headers: { cookie: before } })
    t.same(stale.json(), { data: {}, isNew: true }, 'a session lost with the server\'s memory is a new session, not an error')
  })

  await t.test('server frozen: requests time out at the bound', async (t) => {
    const cookie = await recovered(app)
    await server.pause()
    try {
      await checkUnavailable(t, app, logs, cookie, DEFAULT_BOUND)
      const { response, elapsed } = await timed(app, 'GET', '/read', cookie)
      t.equal(response.statusCode, 503)
      t.ok(elapsed >= DEFAULT_BOUND - 50, `a frozen server is waited for up to the bound (${elapsed} ms)`)
      t.match(response.json().message, /did not answer the session read within 1000 ms|the session read failed/)
    } finally {
      server.resume()
    }
    await recovered(app)
    t.same((await app.inject({ url: '/read', headers: { cookie } })).json(), { data: { user: 'ada' }, isNew: false },
      'sessions written before the freeze are still there')
  })
}

t.test('Redis outage (new Redis({ host, port }))', async (t) => {
  const server = await startRedis(t)
  const redis = new Redis({ host: '127.0.0.1', port: server.port })
  t.teardown(() => redis.disconnect())
  await outageScenario(t, server, new RedisStorage(redis))

  await t.test('while the client is reconnecting, requests fail at once instead of queueing', async (t) => {
    const { app } = await buildApp(t, new RedisStorage(redis), routes)
    const cookie = await recovered(app)
    // ioredis announces each wait before a reconnection attempt, with its length: a
    // request made right then must not join the offline queue.
    const waiting = new Promise<void>((resolve) => {
      const onReconnecting = (delay: number): void => {
        if (delay < 100) return
        redis.off('reconnecting', onReconnecting)
        resolve()
      }
      redis.on('reconnecting', onReconnecting)
    })
    await server.stop()
    await waiting
    const { response, elapsed } = await timed(app, 'GET', '/read', cookie)
    t.equal(response.statusCode, 503)
    t.equal(response.json().message, 'fastify-sessions: the session read failed: the Redis client is not connected (status: reconnecting)')
    t.ok(elapsed < 100, `in ${elapsed} ms`)
    await server.start()
    await recovered(app)
  })

  await t.test('a shorter timeout is honoured', async (t) => {
    const { app } = await buildApp(t, new RedisStorage(redis, { timeout: 200 }), routes)
    const cookie = await recovered(app)
    await server.pause()
    try {
      const { response, elapsed } = await timed(app, 'GET', '/read', cookie)
      t.equal(response.statusCode, 503)
      t.equal(response.json().message, 'fastify-sessions: Redis did not answer the session read within 200 ms')
      t.ok(elapsed >= 190 && elapsed <= 200 + SLACK, `failed after ${elapsed} ms`)
    } finally {
      server.resume()
    }
  })

  await t.test('a client that was closed fails at once', async (t) => {
    const closed = new Redis({ host: '127.0.0.1', port: server.port })
    await closed.quit()
    const { app } = await buildApp(t, new RedisStorage(closed), routes)
    const { response, elapsed } = await timed(app, 'GET', '/read', 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef')
    t.equal(response.statusCode, 503)
    t.equal(response.json().message, 'fastify-sessions: the session read failed: the Redis client is not connected (status: end)')
    t.ok(elapsed < 200, `in ${elapsed} ms`)
  })
})

t.test('Memcached outage (memjs.Client.create(\'host:port\'))', async (t) => {
  const server = await startMemcached(t)
  const client = memjs.Client.create(server.address)
  t.teardown(() => client.close())
  await outageScenario(t, server, new MemcachedStorage(client))
})

t.test('no unhandled rejection, even from commands answered after their timeout', async (t) => {
  // Late answers and failures of timed-out commands settle during the recoveries above;
  // give any stragglers a turn of the event loop before looking.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
