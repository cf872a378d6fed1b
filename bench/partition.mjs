// The partition run: `node bench/partition.mjs [options]` (see --help). Not part of `npm test`.
//
// What does a network partition between the app and its store cost the app, with and
// without the circuit breaker? For each store (Redis, Memcached) and each setting of the
// breaker, an app (bench/partition-server.mjs, on the built package, in a process of its
// own so its memory is its own) talks to the store through the tests' fault proxy
// (test/helpers/fault-proxy.ts). This process sends it a steady load of requests that need
// the store (reads and writes of existing sessions), then blackholes the proxy (connections
// stay open, nothing is answered) for --partition seconds, then heals it. Every second the
// app reports the client's queued commands, its requests in flight and its heap.
//
// Redis and Memcached are started here on free loopback ports and stopped by PID. Results
// go to stdout and bench/results/partition-<time>.{json,md}.
import http from 'node:http'
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { tsImport } from 'tsx/esm/api'
import { checkBuild } from './lib/build.mjs'
import { gitRevision, machineInfo } from './lib/machine.mjs'
import { startMemcached, startRedis } from './lib/stores.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = `${ROOT}bench/results`
const SERVER = fileURLToPath(new URL('partition-server.mjs', import.meta.url))

const HELP = `Usage: node bench/partition.mjs [options]

  --store a,b          stores, one after the other (default: redis,memcached)
  --breaker a,b        circuit breaker settings to compare (default: on,off; on = the defaults)
  --rate N             requests per second, all needing the store (default 50)
  --write-ratio F      share of them that change the session (default 0.2); the rest read
  --sessions N         sessions the load cycles through (default 200)
  --before S           seconds of load before the partition (default 5)
  --partition S        seconds the store is blackholed (default 30)
  --after S            seconds of load after healing (default 15)
  --timeout MS         the storages' timeout (default 1000, their default)
  --allow-stale        run even if dist/ is older than the sources`

const { values: options } = parseArgs({
  options: {
    store: { type: 'string', default: 'redis,memcached' },
    breaker: { type: 'string', default: 'on,off' },
    rate: { type: 'string', default: '50' },
    'write-ratio': { type: 'string', default: '0.2' },
    sessions: { type: 'string', default: '200' },
    before: { type: 'string', default: '5' },
    partition: { type: 'string', default: '30' },
    after: { type: 'string', default: '15' },
    timeout: { type: 'string', default: '1000' },
    'allow-stale': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})

if (options.help) {
  console.log(HELP)
  process.exit(0)
}

const rate = Number(options.rate)
const writeRatio = Number(options['write-ratio'])
const sessionCount = Number(options.sessions)
const beforeSeconds = Number(options.before)
const partitionSeconds = Number(options.partition)
const afterSeconds = Number(options.after)
const timeout = Number(options.timeout)
const stores = options.store.split(',')
const breakers = options.breaker.split(',')
for (const store of stores) if (store !== 'redis' && store !== 'memcached') throw new Error(`unknown store ${store}`)
for (const breaker of breakers) if (breaker !== 'on' && breaker !== 'off') throw new Error(`--breaker takes on and off; got ${breaker}`)

checkBuild(ROOT, { allowStale: options['allow-stale'] })

/** @type {{ FaultProxy: typeof import('../test/helpers/fault-proxy.ts').FaultProxy }} */
const { FaultProxy } = await tsImport('../test/helpers/fault-proxy.ts', import.meta.url)

/** Closers, run in reverse at the end (the proxy registers its own through `teardown`). */
const closers = /** @type {Array<() => unknown>} */ ([])
const teardown = { teardown (/** @type {() => unknown} */ close) { closers.push(close) } }

/**
 * @typedef {{ type: 'sample', queued: number, inFlight: number, heapUsed: number, liveHeap: number, rss: number, breaker: string[], errors: number }} AppSample
 * @typedef {{ at: number, phase: string, queued: number, inFlight: number, heapMB: number, liveHeapMB: number, connections: number }} TimelinePoint
 * @typedef {{ sent: number, phase: string, kind: 'read' | 'write', status: number, ms: number }} Outcome
 */

/** Starts the app on `proxyPort` and resolves with its port and a way to ask it for samples. */
async function startApp (store, proxyPort, breaker) {
  const child = fork(SERVER, [], {
    execArgv: ['--expose-gc'],
    env: { ...process.env, PARTITION_STORE: store, PARTITION_PROXY_PORT: String(proxyPort), PARTITION_BREAKER: breaker, PARTITION_TIMEOUT: String(timeout) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  /** @type {Array<(sample: AppSample) => void>} */
  const waiting = []
  const port = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the app exited (${code})`)))
    child.on('message', (/** @type {any} */ message) => {
      if (message.type === 'listening') resolve(message.port)
      else if (message.type === 'sample') waiting.shift()?.(message)
    })
  })
  return {
    port,
    /** @returns {Promise<AppSample>} */
    sample: () => new Promise((resolve) => { waiting.push(resolve); child.send({ type: 'sample' }) }),
    close: () => new Promise((resolve) => { child.once('exit', resolve); child.send({ type: 'close' }) })
  }
}

/**
 * One HTTP request; resolves with its status (0 for a connection error) and duration.
 * @returns {Promise<{ status: number, ms: number, cookie: string | undefined }>}
 */
function send (agent, port, method, path, cookie) {
  const start = performance.now()
  return new Promise((resolve) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, agent, headers: cookie === undefined ? {} : { cookie } }, (response) => {
      response.resume()
      response.on('end', () => {
        const setCookie = response.headers['set-cookie']?.[0]
        resolve({ status: response.statusCode ?? 0, ms: performance.now() - start, cookie: setCookie?.slice(0, setCookie.indexOf(';')) })
      })
    })
    request.on('error', () => resolve({ status: 0, ms: performance.now() - start, cookie: undefined }))
    request.end()
  })
}

function percentile (values, share) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))])
}

const delay = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** One store, one breaker setting: the whole before / partition / after run. */
async function runOnce (store, storeServer, breaker) {
  const proxy = await FaultProxy.start(teardown, storeServer.port)
  const app = await startApp(store, proxy.port, breaker)
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity })
  const cookies = []
  for (let index = 0; index < sessionCount; index++) {
    const login = await send(agent, app.port, 'POST', '/login', undefined)
    if (login.status !== 200 || login.cookie === undefined) throw new Error(`login failed with ${login.status}`)
    cookies.push(login.cookie)
  }

  /** @type {Outcome[]} */
  const outcomes = []
  /** @type {TimelinePoint[]} */
  const timeline = []
  const breakerLog = []
  let phase = 'before'
  const start = performance.now()
  const at = () => (performance.now() - start) / 1000
  const pending = new Set()
  let sent = 0
  const load = setInterval(() => {
    const index = sent++
    const kind = (index % Math.round(1 / writeRatio)) === 0 ? 'write' : 'read'
    const sentAt = at()
    const sentIn = phase
    const request = send(agent, app.port, kind === 'write' ? 'POST' : 'GET', kind === 'write' ? '/write' : '/read', cookies[index % cookies.length])
      .then(({ status, ms }) => { outcomes.push({ sent: sentAt, phase: sentIn, kind, status, ms }) })
    pending.add(request)
    request.finally(() => pending.delete(request))
  }, 1000 / rate)
  const sampler = setInterval(() => {
    const point = { at: Math.round(at()), phase }
    app.sample().then((sample) => {
      breakerLog.push(...sample.breaker.map((change) => `${point.at} s: ${change}`))
      timeline.push({
        ...point,
        queued: sample.queued,
        inFlight: sample.inFlight,
        heapMB: Math.round(sample.heapUsed / 1e5) / 10,
        liveHeapMB: Math.round(sample.liveHeap / 1e5) / 10,
        connections: proxy.openConnections
      })
    }, () => {})
  }, 1000)

  const counters = async () => storeServer.counters()
  await delay(beforeSeconds * 1000)
  proxy.resetCommands()
  const acceptedBefore = proxy.acceptedConnections
  proxy.blackhole()
  phase = 'partition'
  const partitionStart = at()
  await delay(partitionSeconds * 1000)
  const duringPartition = proxy.commands()
  const acceptedDuring = proxy.acceptedConnections - acceptedBefore
  const atHeal = await counters()
  proxy.heal()
  phase = 'after'
  const healedAt = at()
  await delay(afterSeconds * 1000)
  clearInterval(load)
  clearInterval(sampler)
  await Promise.all([...pending])
  // Let what the heal released reach the store before counting its writes.
  await delay(1000)
  const atEnd = await counters()
  await app.close()
  agent.destroy()
  await proxy.close()

  const inPhase = (name) => outcomes.filter((outcome) => outcome.phase === name)
  const partition = inPhase('partition')
  const after = outcomes.filter((outcome) => outcome.sent >= healedAt)
  const firstServed = after.filter((outcome) => outcome.status === 200).sort((a, b) => a.sent - b.sent)[0]
  const during = timeline.filter((point) => point.phase === 'partition')
  const lastBefore = timeline.filter((point) => point.phase === 'before').at(-1)
  // Every write the store executed after the heal was either acknowledged after it (a 200
  // that completed then, whenever it was sent) or is late: its request had its 503 already.
  const acknowledgedWritesAfter = outcomes.filter((outcome) => outcome.kind === 'write' && outcome.status === 200 &&
    outcome.sent + outcome.ms / 1000 >= healedAt).length
  const storeWritesAfterHeal = (atEnd.set ?? 0) - (atHeal.set ?? 0)
  return {
    store,
    breaker,
    partition: {
      requests: partition.length,
      statuses: Object.fromEntries([...new Set(partition.map((outcome) => outcome.status))].map((status) => [status, partition.filter((outcome) => outcome.status === status).length])),
      p50ms: percentile(partition.map((outcome) => outcome.ms), 0.5),
      p99ms: percentile(partition.map((outcome) => outcome.ms), 0.99),
      commandsSent: duringPartition,
      connectionsOpened: acceptedDuring,
      maxQueued: Math.max(0, ...during.map((point) => point.queued)),
      queuedAtEnd: during.at(-1)?.queued ?? null,
      maxInFlight: Math.max(0, ...during.map((point) => point.inFlight)),
      liveHeapBeforeMB: lastBefore?.liveHeapMB ?? null,
      liveHeapAtEndMB: during.at(-1)?.liveHeapMB ?? null,
      maxLiveHeapMB: Math.max(0, ...during.map((point) => point.liveHeapMB))
    },
    afterHeal: {
      firstServedAfterMs: firstServed === undefined ? null : Math.round((firstServed.sent - healedAt) * 1000),
      failed: after.filter((outcome) => outcome.status !== 200).length,
      requests: after.length,
      // Writes the store executed after the heal beyond those acknowledged to a client:
      // commands queued during the partition, replayed late, for requests that got a 503.
      lateWrites: storeWritesAfterHeal - acknowledgedWritesAfter
    },
    partitionStartedAt: Math.round(partitionStart),
    breakerLog,
    timeline
  }
}

const results = []
for (const store of stores) {
  const storeServer = store === 'redis' ? await startRedis(undefined) : await startMemcached(undefined)
  try {
    for (const breaker of breakers) {
      console.error(`${store}, breaker ${breaker}: ${beforeSeconds} s + ${partitionSeconds} s partition + ${afterSeconds} s at ${rate} req/s…`)
      results.push(await runOnce(store, storeServer, breaker))
    }
  } finally {
    await storeServer.stop()
  }
}
for (const close of closers.reverse()) await close()

const rows = results.map(({ store, breaker, partition, afterHeal }) => {
  const commands = Object.values(partition.commandsSent).reduce((sum, count) => sum + count, 0)
  return `| ${store} | ${breaker} | ${partition.requests} | ${JSON.stringify(partition.statuses)} | ${partition.p50ms} / ${partition.p99ms} | ` +
    `${commands} | ${partition.connectionsOpened} | ${partition.maxQueued} (${partition.queuedAtEnd} at the end) | ${partition.maxInFlight} | ` +
    `${partition.liveHeapBeforeMB} → ${partition.liveHeapAtEndMB} (max ${partition.maxLiveHeapMB}) | ${afterHeal.firstServedAfterMs} | ${afterHeal.lateWrites} |`
})
const report = [
  `Partition run: ${rate} req/s (${Math.round(writeRatio * 100)} % writes), ${partitionSeconds} s blackhole, timeout ${timeout} ms, ` +
    `${new Date().toISOString()}, ${gitRevision()}`,
  '',
  '| store | breaker | requests in the partition | statuses | ms p50 / p99 | commands sent to the store | connections opened | ' +
    'client\'s queued commands, max | requests in flight, max | live heap MB, before → end | first 200 after the heal, ms | late writes |',
  '|---|---|--:|---|--:|--:|--:|--:|--:|---|--:|--:|',
  ...rows,
  '',
  ...results.map(({ store, breaker, timeline, breakerLog }) => [
    `${store}, breaker ${breaker} (every 5 s: phase, queued, in flight, live heap MB, proxy connections):`,
    timeline.filter((point) => point.at % 5 === 0).map((point) => `${point.at}s ${point.phase} q=${point.queued} f=${point.inFlight} ` +
      `heap=${point.liveHeapMB} c=${point.connections}`).join('; '),
    breakerLog.length === 0 ? '' : `breaker log: ${breakerLog.join(', ')}`,
    ''
  ].join('\n'))
].join('\n')
console.log(report)
mkdirSync(RESULTS, { recursive: true })
const stamp = new Date().toISOString().replace(/[:.]/g, '-')
writeFileSync(`${RESULTS}/partition-${stamp}.json`, JSON.stringify({ machine: machineInfo(), options, results }, null, 2))
writeFileSync(`${RESULTS}/partition-${stamp}.md`, report + '\n')
