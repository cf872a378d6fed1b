/**
 * Memcached connections that die half-way through a reply, played for real: a reply
 * cut by the fault proxy after a few bytes, and memcached killed (SIGKILL) and started
 * again on the same port while reads are in flight. memjs alone keeps the half reply in
 * its buffer and parses every later reply behind it, so it never answers correctly
 * again (memcachier/memjs#89, #117); the storage must recover by itself, with the same
 * client, and never hand one request's reply to another.
 *
 * Every session (and every item) holds a value of its own, large enough (200 KB) that a
 * kill lands in the middle of a reply, so a reply delivered to the wrong request would
 * show as the wrong value.
 */
import type { Socket } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import { MemcachedBinaryClient, MemcachedError } from '../lib/storage/memcached-binary.js'
import type { MemjsClient } from '../lib/storage/memcached-binary.js'
import { MemcachedStorage } from '../storages/memcached.js'
import { RedisStorage } from '../storages/redis.js'
import { buildApp } from './helpers/app.js'
import { cookiePair } from './helpers/cookies.js'
import { FaultProxy } from './helpers/fault-proxy.js'
import { startMemcached, startRedis } from './helpers/servers.js'
import type { ServerProcess } from './helpers/servers.js'

/**
 * Generous bounds, for the storage and for memjs's own per-request timer: these tests are
 * about what happens after a connection dies, and a loaded machine must not add timeouts.
 * No circuit breaker: they count the attempts that fail right after a restart, and a
 * fifth failure in a row would turn the next attempts into refusals for a cool-down
 * (the breaker has tests of its own: store-faults.test.ts).
 */
const memjsOptions = { logger: { log () {} }, timeout: 5 }
const storageOptions = { timeout: 5000, circuitBreaker: false } as const
const VALUE_BYTES = 200 * 1024
const TRIALS = 10

const unhandled: unknown[] = []
process.on('unhandledRejection', (reason) => { unhandled.push(reason) })

/** The value session (or item) `name` holds: its name, then filler. */
function valueOf (name: string): string {
  return `${name}:`.padEnd(VALUE_BYTES, name.slice(-1))
}

function routes (app: FastifyInstance): void {
  app.post('/fill/:name', async (request) => {
    const { name } = request.params as { name: string }
    request.session.set('name', name)
    request.session.set('blob', valueOf(name))
    return { ok: true }
  })
  // The name, and whether the blob is the one that belongs to it (not echoed: 200 KB).
  app.get('/read', async (request) => {
    const name = request.session.get('name')
    const blob = request.session.get('blob')
    return { name: name ?? null, intact: typeof name === 'string' && blob === valueOf(name), isNew: request.session.isNew }
  })
}

interface Read {
  status: number
  name: string | null
  intact: boolean
}

async function read (app: FastifyInstance, cookie: string): Promise<Read> {
  const response: LightMyRequestResponse = await app.inject({ url: '/read', headers: { cookie } })
  if (response.statusCode !== 200) return { status: response.statusCode, name: null, intact: false }
  const body = response.json() as { name: string | null, intact: boolean }
  return { status: 200, name: body.name, intact: body.intact }
}

/** Creates one session per name and returns their cookies; fails the test if a write fails. */
async function fill (app: FastifyInstance, names: readonly string[]): Promise<Map<string, string>> {
  const cookies = new Map<string, string>()
  for (const name of names) {
    const response = await app.inject({ method: 'POST', url: `/fill/${name}` })
    if (response.statusCode !== 200) throw new Error(`writing session ${name} failed with ${response.statusCode}`)
    cookies.set(name, cookiePair(response)!)
  }
  return cookies
}

/**
 * Retries `attempt` until it returns true, at most `tries` times, `pause` ms apart;
 * returns how many failed first.
 */
async function failuresBefore (tries: number, attempt: () => Promise<boolean>, pause = 0): Promise<number> {
  for (let failures = 0; failures < tries; failures++) {
    if (await attempt()) return failures
    await idle(pause)
  }
  throw new Error(`still failing after ${tries} attempts`)
}

async function idle (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Kills `server` right after the client's connection has sent `count` more requests,
 * so that the kill lands while memcached is answering them (with 200 KB values, in the
 * middle of a reply). Resolves once the server is dead.
 */
async function killAfterRequests (client: memjs.Client<string | Buffer, unknown>, server: ServerProcess, count: number): Promise<void> {
  const socket = (client.servers[0] as unknown as { _socket?: Socket })._socket
  if (socket === undefined) throw new Error('the client has no connection')
  const write = socket.write
  let written = 0
  await new Promise<void>((resolve) => {
    socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      const result = write.apply(this, args)
      if (++written === count) {
        socket.write = write
        resolve()
      }
      return result
    } as Socket['write']
  })
  await server.stop()
}

t.test('a reply cut half-way: that request fails, the next ones succeed, at once and after idling', async (t) => {
  const server = await startMemcached(t)
  const proxy = await FaultProxy.start(t, server.port)
  const client = memjs.Client.create(proxy.address, memjsOptions)
  t.teardown(() => client.close())
  const { app } = await buildApp(t, new MemcachedStorage(client, storageOptions), routes)
  const names = ['alpha', 'bravo', 'charlie']
  const cookies = await fill(app, names)

  const cut = proxy.cutNextReply(1000)
  const victim = await read(app, cookies.get('alpha')!)
  await cut
  t.equal(victim.status, 503, 'the request whose reply was cut fails')

  for (const round of ['at once', 'again']) {
    for (const name of names) {
      t.same(await read(app, cookies.get(name)!), { status: 200, name, intact: true }, `${round}: session ${name} is read whole`)
    }
  }
  // Longer than memjs's own timers (0.5 s per request, 1 s to connect).
  await idle(1500)
  for (const name of names) {
    t.same(await read(app, cookies.get(name)!), { status: 200, name, intact: true }, `after idling: session ${name} is read whole`)
  }
  const more = await fill(app, ['delta'])
  t.same(await read(app, more.get('delta')!), { status: 200, name: 'delta', intact: true }, 'new sessions are written and read')

  proxy.resetCommands()
  const update = await app.inject({ method: 'POST', url: '/fill/echo', headers: { cookie: cookies.get('bravo')! } })
  t.equal(update.statusCode, 200)
  t.same(proxy.commands(), { GETK: 1, REPLACE: 1 }, 'and a change costs exactly one read and one write (a compare-and-set) again')
  t.same(await read(app, cookies.get('bravo')!), { status: 200, name: 'echo', intact: true })
})

t.test(`memcached killed with 4 reads in flight and restarted, ${TRIALS} times: the app recovers with the same client, ` +
  'and no request ever gets another\'s session', async (t) => {
  const server = await startMemcached(t)
  const client = memjs.Client.create(server.address, memjsOptions)
  t.teardown(() => client.close())
  const { app } = await buildApp(t, new MemcachedStorage(client, storageOptions), routes)
  const names = ['k0', 'k1', 'k2', 'k3']
  let cutShort = 0
  let cookies = await fill(app, names)
  for (let trial = 1; trial <= TRIALS; trial++) {
    const inFlight = names.map(async (name) => ({ name, result: await read(app, cookies.get(name)!) }))
    await killAfterRequests(client, server, names.length)
    const results = await Promise.all(inFlight)
    for (const { name, result } of results) {
      if (result.status === 200) t.same(result, { status: 200, name, intact: true }, `trial ${trial}: ${name} got its own session`)
      else t.equal(result.status, 503, `trial ${trial}: ${name} failed with a 503`)
    }
    if (results.some(({ result }) => result.status !== 200)) cutShort++

    await server.start()
    // The restarted server has lost every session: write them again, then read them.
    const failures = await failuresBefore(5, async () => {
      try {
        cookies = await fill(app, names)
        return true
      } catch {
        return false
      }
    })
    t.ok(failures <= 1, `trial ${trial}: writing works again after ${failures} failed attempt(s)`)
    for (const name of names) {
      t.same(await read(app, cookies.get(name)!), { status: 200, name, intact: true }, `trial ${trial}: ${name} is read whole after the restart`)
    }
  }
  t.ok(cutShort > 0, `the kill cut replies short in ${cutShort} of ${TRIALS} trials`)
})

t.test(`the layer alone: memcached killed with 4 reads in flight and restarted, ${TRIALS} times: ` +
  'every read that succeeds returns its own key\'s value, the others fail, and the same client recovers', async (t) => {
  const server = await startMemcached(t)
  const client = memjs.Client.create(server.address, memjsOptions)
  t.teardown(() => client.close())
  const memcached = new MemcachedBinaryClient(client as unknown as MemjsClient, storageOptions)
  const keys = ['k0', 'k1', 'k2', 'k3']
  async function writeAll (): Promise<boolean> {
    try {
      for (const key of keys) await memcached.set(key, valueOf(key), 0)
      return true
    } catch {
      return false
    }
  }
  t.equal(await failuresBefore(1, writeAll), 0)
  let cutShort = 0
  for (let trial = 1; trial <= TRIALS; trial++) {
    const inFlight = keys.map(async (key) => {
      try {
        return { key, value: (await memcached.get(key))?.value.toString() ?? null }
      } catch (error) {
        return { key, error }
      }
    })
    await killAfterRequests(client, server, keys.length)
    const results = await Promise.all(inFlight)
    for (const result of results) {
      if ('value' in result) t.ok(result.value === valueOf(result.key), `trial ${trial}: ${result.key} got its own value`)
      else t.ok(result.error instanceof MemcachedError, `trial ${trial}: ${result.key} failed with a MemcachedError`)
    }
    if (results.some((result) => 'error' in result)) cutShort++

    await server.start()
    const failures = await failuresBefore(5, writeAll)
    t.ok(failures <= 1, `trial ${trial}: writing works again after ${failures} failed attempt(s)`)
    for (const key of keys) t.ok((await memcached.get(key))?.value.toString() === valueOf(key), `trial ${trial}: ${key} is read whole after the restart`)
  }
  t.ok(cutShort > 0, `the kill cut replies short in ${cutShort} of ${TRIALS} trials`)
})

t.test('two servers: a connection cut to one fails only what was on it; the other goes on undisturbed', async (t) => {
  const servers = [await startMemcached(t), await startMemcached(t)]
  const proxies = [await FaultProxy.start(t, servers[0]!.port), await FaultProxy.start(t, servers[1]!.port)]
  const client = memjs.Client.create(proxies.map((proxy) => proxy.address).join(','), memjsOptions)
  t.teardown(() => client.close())
  const memcached = new MemcachedBinaryClient(client as unknown as MemjsClient, storageOptions)
  // Keys on each server, as memjs places them.
  const onServer: string[][] = [[], []]
  for (let index = 0; onServer[0]!.length < 2 || onServer[1]!.length < 2; index++) {
    const key = `spread_${index}`
    onServer[client.servers.indexOf(client.server(key)!)]!.push(key)
  }
  const [first, second] = onServer as [string[], string[]]
  for (const key of [...first, ...second]) await memcached.set(key, valueOf(key), 0)

  // A read on the second server is held in flight while the first server's reply is cut.
  proxies[1]!.blackhole('reply')
  const held = memcached.get(second[0]!)
  const cut = proxies[0]!.cutNextReply(1000)
  const victim = await memcached.get(first[0]!).catch((error: unknown) => error)
  await cut
  t.ok(victim instanceof MemcachedError, 'the read whose reply was cut fails')
  proxies[1]!.heal()
  t.equal((await held)?.value.toString(), valueOf(second[0]!), 'the read in flight on the other server gets its own value')
  t.equal(proxies[1]!.acceptedConnections, 1, 'and its connection was never reset')
  for (const key of [...first, ...second]) t.equal((await memcached.get(key))?.value.toString(), valueOf(key), `${key} is read whole`)
})

t.test('ioredis through the same cut: RedisStorage recovers by itself, and no request gets another\'s session', async (t) => {
  const server = await startRedis(t)
  const proxy = await FaultProxy.start(t, server.port)
  const redis = new Redis({ host: '127.0.0.1', port: proxy.port })
  t.teardown(() => redis.disconnect())
  const { app } = await buildApp(t, new RedisStorage(redis, storageOptions), routes)
  const names = ['alpha', 'bravo', 'charlie']
  const cookies = await fill(app, names)

  const cut = proxy.cutNextReply(1000)
  const victim = await read(app, cookies.get('alpha')!)
  await cut
  // ioredis sends the command again on its new connection (or the request fails).
  t.ok(victim.status === 503 || (victim.name === 'alpha' && victim.intact), `the request whose reply was cut: ${victim.status}`)
  // While ioredis reconnects the storage fails at once rather than queue: retry a while.
  const failures = await failuresBefore(100, async () => (await read(app, cookies.get('bravo')!)).status === 200, 50)
  t.ok(failures < 100, `reads work again after ${failures} quick 503(s)`)
  for (const name of names) {
    t.same(await read(app, cookies.get(name)!), { status: 200, name, intact: true }, `session ${name} is read whole`)
  }
  proxy.resetCommands()
  await app.inject({ method: 'POST', url: '/fill/delta', headers: { cookie: cookies.get('charlie')! } })
  t.same(proxy.commands(), { GET: 1, EVAL: 1 }, 'a change costs exactly one read and one write (the compare-and-set script, sent in full the first time)')
})

t.test('no unhandled rejection', async (t) => {
  await new Promise((resolve) => setImmediate(resolve))
  t.same(unhandled, [])
})
