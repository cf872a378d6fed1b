/**
 * Store outages, played for real: the server is killed, restarted on the same port,
 * frozen (SIGSTOP: connections stay open but nothing answers) and thawed, mid-test.
 * The clients are built the way users build them, with default options (the storages
 * get them through a proxy that only counts the commands called on them); the bound
 * on the wait comes from the storage alone.
 *
 * A request that needs the store fails within the bound with a 503 and a logged
 * SessionStorageError, requests that do not need it are answered without asking the
 * store anything, the app recovers by itself, and nothing rejects unhandled or hangs.
 */
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import type { Test } from 'tap'
import type { StoreStorage } from '../lib/storage/store-storage.js'
import { MemcachedStorage } from '../storages/memcached.js'
import { RedisStorage } from '../storages/redis.js'
import { buildApp, errorLines } from './helpers/app.js'
import { cookiePair, cookieValue, setCookies } from './helpers/cookies.js'
import { startMemcached, startRedis } from './helpers/servers.js'
import type { ServerProcess } from './helpers/servers.js'
import { storeRoutes as routes } from './helpers/store-routes.js'

/** The default bound, plus what a loaded CI machine may add to a request. */
const DEFAULT_BOUND = 1000
const SLACK = 300

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

interface Timed {
  response: LightMyRequestResponse
  elapsed: number
}

async function timed (app: FastifyInstance, request: InjectOptions): Promise<Timed> {
  const start = performance.now()
  const response = await app.inject(request)
  return { response, elapsed: Math.round(performance.now() - start) }
}

const login: InjectOptions = { method: 'POST', url: '/login', payload: { user: 'ada' } }

/** A session the app wrote: the cookie a browser sends back, and its id. */
interface LoggedIn {
  cookie: string
  id: string
}

/** A store client as a storage sees it, and how many commands the storage called on it. */
interface ObservedClient<Client> {
  readonly client: Client
  readonly commands: number
}

/**
 * The real client, counting the methods called on it (the storage calls nothing but
 * its commands) and forwarding every call unchanged: what a request made the storage
 * ask of the store, whether or not the server could answer.
 */
function observe<Client extends object> (real: Client): ObservedClient<Client> {
  let commands = 0
  const client = new Proxy(real, {
    get (target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        commands++
        return value.apply(target, args)
      }
    }
  })
  return { client, get commands () { return commands } }
}

/**
 * Polls until the app can log in and read that session back: the client reconnects on
 * its own schedule, and answers to commands sent before an outage may still trickle in
 * (memjs can lose one response then; the storage turns that into a bounded 503).
 */
async function recovered (app: FastifyInstance, deadline = 15000): Promise<LoggedIn> {
  const until = Date.now() + deadline
  while (Date.now() < until) {
    const loggedIn = await app.inject(login)
    if (loggedIn.statusCode === 200) {
      const session = { cookie: cookiePair(loggedIn)!, id: cookieValue(loggedIn) }
      const read = await app.inject({ url: '/read', headers: { cookie: session.cookie } })
      if (read.statusCode === 200 && read.json().isNew === false) return session
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the app did not recover within ${deadline} ms`)
}

/** What must hold while the store cannot be used, whatever the reason. */
async function checkUnavailable (t: Test, app: FastifyInstance, store: ObservedClient<object>, cookie: string, bound: number): Promise<void> {
  const needingTheStore = await Promise.all([
    timed(app, { url: '/read', headers: { cookie } }),
    timed(app, { url: '/read', headers: { cookie } }),
    timed(app, login),
    timed(app, { method: 'POST', url: '/logout', headers: { cookie } })
  ])
  for (const [index, { response, elapsed }] of needingTheStore.entries()) {
    t.equal(response.statusCode, 503, `request ${index}: 503`)
    t.match(response.json(), { code: 'FST_SESSIONS_STORAGE', error: 'Service Unavailable' })
    t.same(setCookies(response), [], `request ${index}: no cookie`)
    t.ok(elapsed <= bound + SLACK, `request ${index} failed in ${elapsed} ms (bound ${bound} ms)`)
    t.match(errorLines(response), [{ err: { type: 'SessionStorageError' } }], `request ${index}: its failure is logged as a SessionStorageError`)
  }

  // Neither waits for the store because neither asks it anything.
  const commands = store.commands
  const anonymous = await app.inject({ url: '/read' })
  t.same(anonymous.json(), { data: {}, isNew: true, identity: null }, 'a request without a cookie is answered')
  const health = await app.inject({ url: '/health', headers: { cookie } })
  t.equal(health.body, 'ok', 'an opted-out route is answered')
  t.equal(store.commands, commands, 'and neither made the storage send the store a command')
}

/**
 * `settled` resolves once the client is past what the timed-out requests left behind:
 * memjs through the storage's layer, whose own timer (as long as the storage's, started
 * a moment later) resets the connection just after the storage's fired, failing at once
 * whatever was sent on it in between; ioredis has nothing to wait for.
 */
async function outageScenario (t: Test, server: ServerProcess, storage: StoreStorage, store: ObservedClient<object>,
  settled: () => Promise<void> = async () => {}): Promise<void> {
  const { app } = await buildApp(t, storage, routes)

  const before = await recovered(app)
  t.same((await app.inject({ url: '/read', headers: { cookie: before.cookie } })).json(), { data: { user: 'ada' }, isNew: false, identity: before.id })

  await t.test('server killed', async (t) => {
    await server.stop()
    await checkUnavailable(t, app, store, before.cookie, DEFAULT_BOUND)
  })

  await t.test('server restarted: the app recovers by itself', async (t) => {
    await server.start()
    const after = await recovered(app)
    t.same((await app.inject({ url: '/read', headers: { cookie: after.cookie } })).json(), { data: { user: 'ada' }, isNew: false, identity: after.id },
      'new sessions are written and read again')
    const stale = await app.inject({ url: '/read', headers: { cookie: before.cookie } })
    t.same(stale.json(), { data: {}, isNew: true, identity: null }, 'a session lost with the server\'s memory is a new session, not an error')
  })

  await t.test('server frozen: requests time out at the bound', async (t) => {
    const session = await recovered(app)
    await server.pause()
    try {
      await checkUnavailable(t, app, store, session.cookie, DEFAULT_BOUND)
      await settled()
      const { response, elapsed } = await timed(app, { url: '/read', headers: { cookie: session.cookie } })
      t.equal(response.statusCode, 503)
      t.ok(elapsed >= DEFAULT_BOUND - 50, `a frozen server is waited for up to the bound (${elapsed} ms)`)
      t.match(response.json().message, /did not answer the session read within 1000 ms|the session read on (Redis|Memcached) failed/)
    } finally {
      server.resume()
    }
    await recovered(app)
    t.same((await app.inject({ url: '/read', headers: { cookie: session.cookie } })).json(), { data: { user: 'ada' }, isNew: false, identity: session.id },
      'sessions written before the freeze are still there')
  })
}

t.test('Redis outage (new Redis({ host, port }))', async (t) => {
  const server = await startRedis(t)
  const redis = new Redis({ host: '127.0.0.1', port: server.port })
  t.teardown(() => redis.disconnect())
  const store = observe(redis)
  await outageScenario(t, server, new RedisStorage(store.client), store)

  await t.test('while the client is reconnecting, requests fail at once instead of queueing', async (t) => {
    const store = observe(redis)
    const { app } = await buildApp(t, new RedisStorage(store.client), routes)
    const { cookie } = await recovered(app)
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
    const commands = store.commands
    const response = await app.inject({ url: '/read', headers: { cookie } })
    t.equal(response.statusCode, 503)
    t.equal(response.json().message, 'fastify-sessions: the session read failed: the Redis client is not connected (status: reconnecting)')
    t.equal(store.commands, commands, 'the read was never handed to the client, so it could not wait in its offline queue')
    await server.start()
    await recovered(app)
  })

  await t.test('a shorter timeout is honoured', async (t) => {
    const { app } = await buildApp(t, new RedisStorage(redis, { timeout: 200 }), routes)
    const { cookie } = await recovered(app)
    await server.pause()
    try {
      const { response, elapsed } = await timed(app, { url: '/read', headers: { cookie } })
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
    const store = observe(closed)
    const { app } = await buildApp(t, new RedisStorage(store.client), routes)
    const response = await app.inject({ url: '/read', headers: { cookie: 'AIOHTTP_SESSION=0123456789abcdef0123456789abcdef' } })
    t.equal(response.statusCode, 503)
    t.equal(response.json().message, 'fastify-sessions: the session read failed: the Redis client is not connected (status: end)')
    t.equal(store.commands, 0, 'the read was never handed to the closed client')
  })
})

t.test('Memcached outage (memjs.Client.create(\'host:port\'))', async (t) => {
  const server = await startMemcached(t)
  const client = memjs.Client.create(server.address)
  t.teardown(() => client.close())
  const store = observe(client)
  const servers = client.servers as unknown as Array<{ responseCallbacks: Record<string, unknown> }>
  const pending = (): number => servers.reduce((sum, one) => sum + Object.keys(one.responseCallbacks).length, 0)
  await outageScenario(t, server, new MemcachedStorage(store.client), store, async () => {
    while (pending() > 0) await new Promise((resolve) => setTimeout(resolve, 5))
  })
})

t.test('no unhandled rejection, even from commands answered after their timeout', async (t) => {
  // Late answers and failures of timed-out commands settle during the recoveries above;
  // give any stragglers a turn of the event loop before looking.
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
