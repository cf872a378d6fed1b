/**
 * Network faults between the app and its store, played through the fault proxy in front
 * of a real redis-server and a real memcached, with clients built the way users build
 * them: latency below and above the timeout, a blackhole (a partition: connections stay
 * open, nothing is answered), a reply cut half-way, replies trickled a few bytes at a
 * time, and healing. And the circuit breaker on top: after `failureThreshold` failures in
 * a row nothing more is handed to the client (the proxy counts what arrives), requests
 * fail at once with Retry-After, and a probe after the cool-down closes it again.
 *
 * Bounds are asserted by what ended each request, never by a stopwatch: a 503 that says
 * "did not answer … within N ms" was ended by the storage's timer; a 503 that says the
 * store "is considered down" sent nothing (the proxy counted no command for it). The
 * breaker's clock is `Date`, faked here: the cool-down passes when the test says so.
 * A request held between its load and its save (test/helpers/race.ts) shows that every
 * step of a save goes through the breaker too.
 */
import { once } from 'node:events'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import type { Test } from 'tap'
import type { StoreStorage, StoreStorageOptions } from '../lib/storage/store-storage.js'
import { MemcachedStorage } from '../storages/memcached.js'
import { RedisStorage } from '../storages/redis.js'
import { buildApp, errorLines, injector, logLinesOf } from './helpers/app.js'
import type { Inject, LogLine } from './helpers/app.js'
import { fakeDate } from './helpers/clock.js'
import { cookiePair, setCookies } from './helpers/cookies.js'
import { FaultProxy } from './helpers/fault-proxy.js'
import { Holds } from './helpers/race.js'
import { startMemcached, startRedis } from './helpers/servers.js'
import { storeRoutes } from './helpers/store-routes.js'

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

const NOW = 1_700_000_000
const quiet = { log () {} }

/** One store behind a fault proxy, with the client the storages share. */
interface FaultyStore {
  readonly name: 'Redis' | 'Memcached'
  readonly proxy: FaultProxy
  /** The read command as the proxy counts it. */
  readonly readCommand: 'GET' | 'GETK'
  storage (options: StoreStorageOptions): StoreStorage
  /** Commands the client sent or holds and has no answer for yet. */
  queued (): number
  /**
   * Resolves once the client is past what an earlier request left behind, so that the
   * next request starts afresh: ioredis connected again (after a cut); memjs with
   * nothing pending (the storage's layer has a timer of the same length as the
   * storage's, which fires just after it and resets the connection, failing whatever
   * was sent on it meanwhile).
   */
  settled (): Promise<void>
}

async function redisBehindProxy (): Promise<FaultyStore> {
  const server = await startRedis(t)
  const proxy = await FaultProxy.start(t, server.port)
  const redis = new Redis({ host: '127.0.0.1', port: proxy.port })
  // A cut connection is an 'error' event; without a listener ioredis prints it.
  redis.on('error', () => {})
  t.teardown(() => redis.disconnect())
  return {
    name: 'Redis',
    proxy,
    readCommand: 'GET',
    storage: (options) => new RedisStorage(redis, options),
    queued: () => redis.commandQueue.length + (redis as unknown as { offlineQueue: { length: number } }).offlineQueue.length,
    async settled () {
      if (redis.status !== 'ready') await once(redis, 'ready')
    }
  }
}

async function memcachedBehindProxy (): Promise<FaultyStore> {
  const server = await startMemcached(t)
  const proxy = await FaultProxy.start(t, server.port)
  const client = memjs.Client.create(proxy.address, { logger: quiet })
  t.teardown(() => client.close())
  const servers = client.servers as unknown as Array<{ responseCallbacks: Record<string, unknown> }>
  const queued = (): number => servers.reduce((sum, server) => sum + Object.keys(server.responseCallbacks).length, 0)
  return {
    name: 'Memcached',
    proxy,
    readCommand: 'GETK',
    storage: (options) => new MemcachedStorage(client, options),
    queued,
    async settled () {
      await waitUntil('memjs has nothing pending', () => queued() === 0)
    }
  }
}

// Every server starts before the first test is declared: tap ends the run once its
// queue of tests is empty, which a fast first store could otherwise reach.
const stores = [await redisBehindProxy(), await memcachedBehindProxy()]

/** storeRoutes, and /fill, which sets a `blob` of `size` characters (replies long enough to cut or trickle). */
function routes (app: FastifyInstance): void {
  storeRoutes(app)
  app.post('/fill', async (request) => {
    request.session.set('blob', 'b'.repeat((request.body as { size: number }).size))
    return { ok: true }
  })
}

/** The log lines the breaker wrote for the request behind `response`. */
function breakerLines (response: LightMyRequestResponse): LogLine[] {
  return logLinesOf(response).filter((line) => 'circuitBreaker' in line)
}

/**
 * How a 503 ended by the storage's timeout shows in the request's log. Memcached's layer
 * has a timer of the same length, and either may fire first: the message is then "the
 * session read on Memcached failed", with the layer's timeout as its cause (which the
 * logged message includes). Both say the bound.
 */
function timeoutCause (timeout: number): RegExp {
  return new RegExp(`^fastify-sessions: (\\w+ did not answer the session read within ${timeout} ms|` +
    `the session read on Memcached failed: memcached at [\\d.:]+ did not answer within ${timeout} ms)$`)
}

/** A 503 that the storage's timer ended: no answer came within `timeout`. */
function assertTimedOut (t: Test, response: LightMyRequestResponse, timeout: number, message: string): void {
  t.equal(response.statusCode, 503, `${message}: 503`)
  t.match(errorLines(response), [{ err: { type: 'SessionStorageError', message: timeoutCause(timeout) } }], `${message}: ended at the timeout`)
  t.same(setCookies(response), [], `${message}: no cookie`)
}

async function waitUntil (what: string, check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 2000; turn++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${what} did not happen`)
}

interface Setup {
  app: FastifyInstance
  inject: Inject
  /** The cookie of a session holding `{ user: 'ada' }`, written before any fault. */
  cookie: string
  /** What a read of that session answers. */
  expected: object
}

/** An app on a new storage of `store` (a breaker of its own), and one session written through it. */
async function setUp (t: Test, store: FaultyStore, options: StoreStorageOptions, blob = 0): Promise<Setup> {
  t.teardown(() => { store.proxy.heal() })
  const { app } = await buildApp(t, store.storage(options), routes)
  const inject = injector(app)
  const login = await inject('POST', '/login', undefined, { user: 'ada' })
  t.equal(login.statusCode, 200, 'a session is written before the fault')
  const cookie = cookiePair(login)!
  const data: Record<string, unknown> = { user: 'ada' }
  if (blob > 0) {
    t.equal((await inject('POST', '/fill', cookie, { size: blob })).statusCode, 200)
    data['blob'] = 'b'.repeat(blob)
  }
  return { app, inject, cookie, expected: { data, isNew: false, identity: cookie.slice(cookie.indexOf('=') + 1) } }
}

/** Reads done since `before`: what the proxy received from the client. */
function readsSince (store: FaultyStore, before: number): number {
  return reads(store) - before
}

function reads (store: FaultyStore): number {
  return store.proxy.commands()[store.readCommand] ?? 0
}

for (const store of stores) {
  const { name, proxy } = store

  t.test(`${name}: latency below the timeout is waited for`, async (t) => {
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 5000 })
    proxy.latency(100)
    const response = await inject('GET', '/read', cookie)
    t.equal(response.statusCode, 200)
    t.same(response.json(), expected)
  })

  t.test(`${name}: latency above the timeout: a 503 when the storage's timer fires; served again once it heals`, async (t) => {
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 200 })
    proxy.latency(3000)
    assertTimedOut(t, await inject('GET', '/read', cookie), 200, 'ended by the timer, not by an answer')
    proxy.heal()
    await store.settled()
    t.same((await inject('GET', '/read', cookie)).json(), expected, 'the answer that came late went to nobody; the next read is answered')
  })

  t.test(`${name}: a blackhole: timeouts, then the breaker opens and nothing more reaches the store; ` +
    'a probe after the cool-down closes it', async (t) => {
    const clock = fakeDate(t, NOW)
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 200, circuitBreaker: { failureThreshold: 3, coolDown: 10_000 } })
    const until = new Date(NOW * 1000 + 10_000).toISOString()
    proxy.blackhole()
    const before = reads(store)

    const timedOut: LightMyRequestResponse[] = []
    for (let index = 0; index < 3; index++) {
      timedOut.push(await inject('GET', '/read', cookie))
      await store.settled()
    }
    for (const [index, response] of timedOut.entries()) {
      assertTimedOut(t, response, 200, `failure ${index + 1}`)
      t.equal(response.headers['retry-after'], undefined, 'no Retry-After: nobody knows yet')
    }
    t.equal(readsSince(store, before), 3, 'each of them sent its read')
    const sent = proxy.commands()
    t.same(breakerLines(timedOut[0]!), [])
    t.same(breakerLines(timedOut[1]!), [])
    t.match(breakerLines(timedOut[2]!), [{
      level: 40,
      msg: `fastify-sessions: ${name} failed 3 time(s) in a row; requests that need it fail at once until ${until}`,
      circuitBreaker: { from: 'closed', to: 'open', failures: 3, until },
      err: { type: 'SessionStorageError', message: timeoutCause(200) }
    }], 'the third failure opens the breaker: one warning, with its cause')

    const refused = [
      await inject('GET', '/read', cookie),
      await inject('GET', '/read', cookie),
      await inject('POST', '/set', cookie, { a: 1 }),
      await inject('POST', '/login', undefined, { user: 'bob' }),
      await inject('POST', '/logout', cookie)
    ]
    for (const [index, response] of refused.entries()) {
      const what = index === 3 ? 'write' : 'read'
      t.equal(response.statusCode, 503, `request ${index}: 503`)
      t.match(response.json(), {
        code: 'FST_SESSIONS_STORAGE',
        message: `fastify-sessions: ${name} is considered down after 3 failure(s) in a row: the session ${what} was not attempted; ` +
          `requests that need ${name} fail at once until ${until}`
      })
      t.equal(response.headers['retry-after'], '10', `request ${index}: Retry-After (seconds), through Fastify's default error handler`)
      t.same(setCookies(response), [], `request ${index}: no cookie`)
      t.same(breakerLines(response), [], `request ${index}: nothing logged per request by the breaker`)
      t.match(errorLines(response), [{ err: { type: 'SessionStorageError', code: 'FST_SESSIONS_STORAGE' } }])
    }
    t.same(proxy.commands(), sent, 'none of them sent the store anything')

    const anonymous = await inject('GET', '/read')
    t.same(anonymous.json(), { data: {}, isNew: true, identity: null }, 'a request without the cookie is answered')
    t.equal((await inject('GET', '/health', cookie)).body, 'ok', 'and so is an opted-out route')

    proxy.heal()
    await store.settled()
    const stillOpen = await inject('GET', '/read', cookie)
    t.equal(stillOpen.statusCode, 503, 'healed, but the cool-down is not over: still refused')
    t.equal(readsSince(store, before), 3, 'without asking the store')

    clock.tick(10_000)
    const probe = await inject('GET', '/read', cookie)
    t.equal(probe.statusCode, 200, 'after the cool-down, the probe is answered')
    t.same(probe.json(), expected)
    t.equal(readsSince(store, before), 4)
    t.match(breakerLines(probe), [
      { level: 30, msg: `fastify-sessions: the cool-down is over; one request checks whether ${name} is back`, circuitBreaker: { from: 'open', to: 'half-open' } },
      { level: 30, msg: `fastify-sessions: ${name} answers again; requests use it again`, circuitBreaker: { from: 'half-open', to: 'closed' } }
    ], 'half-open, then closed: one line each')
    const after = await inject('GET', '/read', cookie)
    t.same(after.json(), expected)
    t.same(breakerLines(after), [])
    t.equal(readsSince(store, before), 5, 'closed: every request reads again')
  })

  t.test(`${name}: while the probe is out the others fail at once; a probe that fails opens it for another cool-down`, async (t) => {
    const clock = fakeDate(t, NOW)
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 300, circuitBreaker: { failureThreshold: 1, coolDown: 10_000 } })
    proxy.blackhole()
    const before = reads(store)
    const first = await inject('GET', '/read', cookie)
    await store.settled()
    t.match(breakerLines(first), [{ circuitBreaker: { to: 'open', failures: 1 } }], 'a threshold of 1: the first failure opens it')

    clock.tick(10_000)
    const probing = inject('GET', '/read', cookie)
    await waitUntil('the probe reached the store', () => readsSince(store, before) === 2)
    const meanwhile = await inject('GET', '/read', cookie)
    t.equal(meanwhile.statusCode, 503)
    t.equal(meanwhile.json().message, `fastify-sessions: ${name} is considered down: one request is checking whether it is back; ` +
      `the session read was not attempted (retry after ${new Date(NOW * 1000 + 10_000 + 300).toISOString()})`)
    t.equal(meanwhile.headers['retry-after'], '1', 'come back once the probe has answered or timed out')
    t.equal(readsSince(store, before), 2, 'the probe is the only request sent')

    const probe = await probing
    assertTimedOut(t, probe, 300, 'the probe')
    const reopenedUntil = new Date(NOW * 1000 + 20_000).toISOString()
    t.match(breakerLines(probe), [
      { level: 30, circuitBreaker: { from: 'open', to: 'half-open' } },
      {
        level: 40,
        msg: `fastify-sessions: ${name} still fails (the probe failed); requests that need it fail at once until ${reopenedUntil}`,
        circuitBreaker: { from: 'half-open', to: 'open', failures: 1, until: reopenedUntil },
        err: { type: 'SessionStorageError' }
      }
    ])
    const refused = await inject('GET', '/read', cookie)
    t.match(refused.json(), { message: new RegExp(`considered down after 1 failure\\(s\\) in a row: .* until ${reopenedUntil.replace(/\./g, '\\.')}`) })
    t.equal(refused.headers['retry-after'], '10')
    t.equal(readsSince(store, before), 2)

    proxy.heal()
    await store.settled()
    clock.tick(10_000)
    t.same((await inject('GET', '/read', cookie)).json(), expected, 'the next probe finds the store back')
  })

  t.test(`${name}: the breaker bounds what is handed to the client during a partition`, async (t) => {
    // The cool-down must not end half-way through: the clock stands still.
    fakeDate(t, NOW)
    const requests = 12
    const outcomes: Record<string, { sent: number, queued: number }> = {}
    for (const circuitBreaker of [{ failureThreshold: 3 }, false] as const) {
      const { inject, cookie } = await setUp(t, store, { timeout: 100, circuitBreaker })
      await waitUntil('the client has nothing pending', () => store.queued() === 0)
      proxy.blackhole()
      const before = reads(store)
      let queued = 0
      for (let index = 0; index < requests; index++) {
        t.equal((await inject('GET', '/read', cookie)).statusCode, 503)
        queued = Math.max(queued, store.queued())
        await store.settled()
      }
      outcomes[circuitBreaker === false ? 'without' : 'with'] = { sent: readsSince(store, before), queued }
      proxy.heal()
      await store.settled()
    }
    t.comment(`${requests} requests during a partition: ${JSON.stringify(outcomes)}`)
    t.equal(outcomes['without']!.sent, requests, 'without a breaker every request hands the client a command')
    t.equal(outcomes['with']!.sent, 3, 'with one, only those before it opened')
    if (name === 'Redis') {
      t.equal(outcomes['without']!.queued, requests, 'ioredis keeps every one of them queued until the partition heals')
      t.equal(outcomes['with']!.queued, 3)
    } else {
      t.ok(outcomes['without']!.queued <= 1, 'memcached: at most the one command in flight (a timeout resets the connection)')
    }
  })

  t.test(`${name}: a reply cut half-way, then the client recovers`, async (t) => {
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 5000 }, 4000)
    const cut = proxy.cutNextReply(1000)
    const victim = await inject('GET', '/read', cookie)
    await cut
    if (name === 'Memcached') {
      t.equal(victim.statusCode, 503, 'the read whose reply was cut fails')
      t.equal(victim.json().message, 'fastify-sessions: the session read on Memcached failed')
    } else {
      t.equal(victim.statusCode, 200, 'ioredis sends the read again on its new connection')
      t.same(victim.json(), expected)
    }
    await store.settled()
    t.same((await inject('GET', '/read', cookie)).json(), expected, 'the next read is answered, whole')
  })

  t.test(`${name}: replies trickled a few bytes at a time`, async (t) => {
    const { inject, cookie, expected } = await setUp(t, store, { timeout: 200 }, 4000)
    // 4 KB at 100 bytes per 50 ms: about 2 s, ten times the timeout.
    proxy.trickle({ bytes: 100, interval: 50 })
    assertTimedOut(t, await inject('GET', '/read', cookie), 200, 'trickled past the timeout')
    proxy.heal()
    await store.settled()
    // Whatever of the old reply is still on its way must not be taken for the next one's.
    t.same((await inject('GET', '/read', cookie)).json(), expected, 'healed: answered, whole')

    const patient = await setUp(t, store, { timeout: 5000 }, 4000)
    // 4 KB at 1000 bytes per 10 ms: about 40 ms, far within 5 s.
    proxy.trickle({ bytes: 1000, interval: 10 })
    const trickled = await patient.inject('GET', '/read', patient.cookie)
    t.equal(trickled.statusCode, 200)
    t.same(trickled.json(), patient.expected, 'a slow reply within the timeout is read whole')
  })

  t.test(`${name}: a session that loaded before the breaker opened: its save fails at once (503, Retry-After) and sends nothing`, async (t) => {
    const clock = fakeDate(t, NOW)
    t.teardown(() => { proxy.heal() })
    const holds = new Holds()
    const storage = store.storage({ timeout: 200, circuitBreaker: { failureThreshold: 1, coolDown: 10_000 } })
    const { app } = await buildApp(t, storage, (app) => { routes(app); holds.routes(app, '/race') })
    const inject = injector(app)
    const cookie = cookiePair(await inject('POST', '/login', undefined, { user: 'ada' }))!
    const held = app.inject({ method: 'POST', url: '/race/hold/one', headers: { cookie }, payload: [['set', 'cart', [1]]] })
    await holds.reached('one')

    proxy.blackhole()
    assertTimedOut(t, await inject('GET', '/read', cookie), 200, 'another request of the session times out: the breaker opens')
    await store.settled()
    proxy.heal()
    await store.settled()
    const sent = proxy.commands()

    holds.release('one')
    const response = await held
    const until = new Date(NOW * 1000 + 10_000).toISOString()
    t.equal(response.statusCode, 503)
    t.match(response.json(), {
      code: 'FST_SESSIONS_STORAGE',
      message: `fastify-sessions: ${name} is considered down after 1 failure(s) in a row: the session write was not attempted; ` +
        `requests that need ${name} fail at once until ${until}`
    })
    t.equal(response.headers['retry-after'], '10', 'Retry-After on a failed save too, through the default error handler')
    t.same(setCookies(response), [])
    t.same(breakerLines(response), [], 'nothing logged per request by the breaker')
    t.same(proxy.commands(), sent, 'the save sent the store nothing: no compare-and-set, no read')

    clock.tick(10_000)
    const after = await inject('GET', '/read', cookie)
    t.same(after.json().data, { user: 'ada' }, 'after the cool-down the probe reads the record as it was')
  })

  t.test(`${name}: a session refused as too large is not a store failure`, async (t) => {
    const { inject, cookie, expected } = await setUp(t, store, { maxRecordBytes: 200, circuitBreaker: { failureThreshold: 1 } })
    const before = reads(store)
    const big = await inject('POST', '/fill', cookie, { size: 300 })
    t.equal(big.statusCode, 500)
    t.match(big.json(), { code: 'FST_SESSIONS_TOO_LARGE' })
    const next = await inject('GET', '/read', cookie)
    t.same(next.json(), expected)
    t.equal(readsSince(store, before), 2, 'the breaker did not open: the next request reached the store')
  })
}

t.test('no unhandled rejection, even from commands answered or failed after their timeout', async (t) => {
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
