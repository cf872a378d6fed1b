// The app of the partition run (bench/partition.mjs): `node --expose-gc bench/partition-server.mjs`,
// forked with an IPC channel. Our built package with RedisStorage or MemcachedStorage on a
// client built the way users build one (default options), connected through the runner's
// fault proxy. Reports, on request, what a partition leaves behind in this process: the
// client's queued commands, the requests in flight, the heap and the log lines written.
//
// Environment: PARTITION_STORE (redis | memcached), PARTITION_PROXY_PORT,
// PARTITION_BREAKER (on | off), PARTITION_TIMEOUT (ms).
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import sessionPlugin from 'fastify-sessions'
import { MemcachedStorage } from 'fastify-sessions/storages/memcached'
import { RedisStorage } from 'fastify-sessions/storages/redis'

const store = process.env.PARTITION_STORE
const proxyPort = Number(process.env.PARTITION_PROXY_PORT)
const options = {
  timeout: Number(process.env.PARTITION_TIMEOUT ?? 1000),
  ...(process.env.PARTITION_BREAKER === 'off' ? { circuitBreaker: /** @type {const} */ (false) } : {})
}

/** @type {() => number} */
let queued
/** @type {() => void} */
let closeClient
/** @type {import('fastify-sessions').StoreStorage} */
let storage
if (store === 'redis') {
  const { Redis } = await import('ioredis')
  const redis = new Redis({ host: '127.0.0.1', port: proxyPort })
  redis.on('error', () => {})
  // Sent and unanswered (commandQueue), and held while disconnected (offlineQueue): ioredis
  // keeps both until the answers come or the connection ends.
  queued = () => redis.commandQueue.length + /** @type {{ offlineQueue: { length: number } }} */ (/** @type {unknown} */ (redis)).offlineQueue.length
  closeClient = () => redis.disconnect()
  storage = new RedisStorage(redis, options)
} else if (store === 'memcached') {
  const memjs = (await import('memjs')).default
  const client = memjs.Client.create(`127.0.0.1:${proxyPort}`, { logger: { log () {} } })
  const servers = /** @type {Array<{ responseCallbacks: Record<string, unknown> }>} */ (/** @type {unknown} */ (client.servers))
  // Requests memjs holds a reply handler for: sent (or waiting for the connection) and unanswered.
  queued = () => servers.reduce((sum, server) => sum + Object.keys(server.responseCallbacks).length, 0)
  closeClient = () => client.close()
  storage = new MemcachedStorage(client, options)
} else {
  throw new Error(`PARTITION_STORE must be redis or memcached; got ${store}`)
}

/** Log lines by kind: the breaker's state changes, and Fastify's error lines (one per 5xx). */
const logged = { breaker: /** @type {string[]} */ ([]), errors: 0 }
const stream = new Writable({
  write (chunk, _encoding, callback) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue
      const entry = JSON.parse(line)
      if ('circuitBreaker' in entry) logged.breaker.push(`${entry.circuitBreaker.from}→${entry.circuitBreaker.to}`)
      else if (entry.level >= 50) logged.errors++
    }
    callback()
  }
})

const app = Fastify({ logger: { level: 'info', stream } })
let inFlight = 0
// Added before the plugin, so a request counts from before its session is loaded.
app.addHook('onRequest', (_request, _reply, done) => { inFlight++; done() })
app.addHook('onResponse', (_request, _reply, done) => { inFlight--; done() })
await app.register(sessionPlugin, storage)

/** @param {import('fastify').FastifyRequest} request */
const sessionOf = (request) => /** @type {{ session: import('fastify-sessions').Session, newSession (): import('fastify-sessions').Session }} */ (/** @type {unknown} */ (request))

app.post('/login', async (request) => {
  sessionOf(request).newSession().set('visits', 0)
  return { ok: true }
})
app.get('/read', async (request) => ({ visits: sessionOf(request).session.get('visits') ?? null }))
app.post('/write', async (request) => {
  const { session } = sessionOf(request)
  session.set('visits', Number(session.get('visits') ?? 0) + 1)
  return { ok: true }
})

await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
if (address === null || typeof address === 'string') throw new Error('no port')

const gc = /** @type {(() => void) | undefined} */ (globalThis.gc)
process.on('message', (/** @type {{ type: string }} */ message) => {
  if (message.type === 'sample') {
    const { heapUsed } = process.memoryUsage()
    // After a full GC too: what the partition keeps alive, not what it has not collected yet.
    gc?.()
    const { heapUsed: liveHeap, rss } = process.memoryUsage()
    process.send?.({ type: 'sample', queued: queued(), inFlight, heapUsed, liveHeap, rss, breaker: logged.breaker.splice(0), errors: logged.errors })
  } else if (message.type === 'close') {
    closeClient()
    app.close().then(() => process.exit(0), () => process.exit(1))
  }
})
process.send?.({ type: 'listening', port: address.port })
