// The server of the soak run: `node --expose-gc bench/soak-server.mjs <storage>` (a storage
// of ours: encrypted, nacl, simple, redis, memcached, set up as in bench/servers.mjs on the
// built package). Listens on a free loopback port and prints `SOAK_READY <port>`; SIGTERM
// closes it.
//
// Routes: the soak's users log in (a new session each time), read, write and log out; an
// opted-out route reports the process's memory and event-loop delay to the runner.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import Fastify from 'fastify'
import { findServer } from './servers.mjs'

/**
 * The session API the soak uses. Every library's declaration of `request.session` applies
 * to this file (bench/servers.mjs imports them all), so the routes use ours explicitly.
 * @typedef {{ get (key: string): any, set (key: string, value: unknown): void, invalidate (): void }} OurSession
 * @typedef {{ session: OurSession, newSession (): OurSession, query: Record<string, string | undefined> }} SoakRequest
 */

/** @param {import('fastify').FastifyRequest} request */
const soakRequest = (request) => /** @type {SoakRequest} */ (/** @type {unknown} */ (request))

const storage = process.argv[2] ?? ''
const entry = findServer(`ours-${storage}`)
const app = Fastify({ logger: false })
const closeClients = await entry.register(app, process.env)

app.post('/soak/login', async (fastifyRequest) => {
  const request = soakRequest(fastifyRequest)
  // A fresh identity, as a real login does (and a new record for the server-side storages).
  const session = request.newSession()
  session.set('user', request.query.user)
  session.set('visits', 0)
  session.set('roles', ['reader', 'writer'])
  return { ok: true }
})
app.get('/soak/read', async (fastifyRequest) => {
  const { session } = soakRequest(fastifyRequest)
  return { user: session.get('user') ?? null, visits: session.get('visits') ?? null }
})
app.post('/soak/write', async (fastifyRequest) => {
  const request = soakRequest(fastifyRequest)
  const visits = (request.session.get('visits') ?? 0) + 1
  request.session.set('visits', visits)
  request.session.set('seen', Date.now())
  return { user: request.session.get('user') ?? null, visits }
})
app.post('/soak/logout', async (fastifyRequest) => {
  soakRequest(fastifyRequest).session.invalidate()
  return { ok: true }
})

// Event-loop delay, two views. Each sampling window has a monitor of its own, created
// after the previous sample: a full GC forced for that sample blocks the loop, and a fresh
// monitor does not count that pause (a re-enabled one would: it measures from its last
// tick). The run-wide monitor is never paused: it includes those forced pauses, one
// 10 ms-resolution sample per memory sample (about 0.2 % of its samples at 5-s intervals).
const RESOLUTION_MS = 10

function startMonitor () {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  return histogram
}

let windowDelay = startMonitor()
let runDelay = startMonitor()

/**
 * The histogram in milliseconds of delay: it records the time between two ticks of its
 * timer, i.e. the resolution plus how late the tick was; only the lateness is reported.
 */
function delays (histogram) {
  const ms = (nanoseconds) => Math.max(0, Math.round(nanoseconds / 1e4 - RESOLUTION_MS * 100) / 100)
  return {
    p50: ms(histogram.percentile(50)),
    p99: ms(histogram.percentile(99)),
    max: ms(histogram.max),
    mean: ms(histogram.mean),
    samples: histogram.count
  }
}

app.get('/soak/stats', { config: { session: false } }, async (fastifyRequest) => {
  const request = soakRequest(fastifyRequest)
  const sample = { at: Date.now(), eventLoop: delays(windowDelay), eventLoopRun: delays(runDelay), memory: process.memoryUsage() }
  windowDelay.disable()
  if (request.query.gc === '1' && typeof globalThis.gc === 'function') {
    const start = performance.now()
    globalThis.gc()
    sample.gcMs = Math.round((performance.now() - start) * 100) / 100
    sample.heapAfterGc = process.memoryUsage().heapUsed
  }
  windowDelay = startMonitor()
  return sample
})

// The run's numbers start when the load does, not at start-up.
app.post('/soak/start', { config: { session: false } }, async () => {
  runDelay.disable()
  runDelay = startMonitor()
  windowDelay.disable()
  windowDelay = startMonitor()
  return { ok: true }
})

await app.listen({ host: '127.0.0.1', port: 0 })

let closing = false
process.on('SIGTERM', () => {
  if (closing) return
  closing = true
  Promise.resolve(app.close())
    .then(() => (typeof closeClients === 'function' ? closeClients() : undefined))
    .then(() => process.exit(0), (error) => {
      console.error(error)
      process.exit(1)
    })
})

const address = app.server.address()
process.stdout.write(`SOAK_READY ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
