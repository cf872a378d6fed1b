// The soak run: `node bench/soak.mjs [options]` (see --help), or `npm run soak`.
//
// Runs a server with each of our storages in turn (bench/soak-server.mjs, on the built
// package) and drives it for minutes with many distinct users: they log in (a new session
// each), read and change their sessions, and some log out; users beyond --active walk
// away, leaving their sessions behind. Every few seconds the server reports its memory
// (after a forced full GC) and event-loop delay. The run checks every answer: any 5xx, any
// connection error, and any session that reads back other than its user last left it
// count as failures.
//
// Redis and Memcached are started here on free loopback ports and stopped by PID, like the
// server. Results go to stdout and bench/results/soak-<time>.{json,md}.
import http from 'node:http'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { createHistogram, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { checkBuild } from './lib/build.mjs'
import { storeEnv } from './lib/launch.mjs'
import { gitRevision, machineInfo, packageVersion } from './lib/machine.mjs'
import { canPin, coreTimes, cpuList, pinned, pinSelf, processCpuSeconds, startProcess, stop } from './lib/processes.mjs'
import { startMemcached, startRedis } from './lib/stores.mjs'
import { findServer, missingFiles, packageDir } from './servers.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = `${ROOT}bench/results`
const README = `${ROOT}bench/README.md`
const START_MARK = '<!-- soak:results:start -->'
const END_MARK = '<!-- soak:results:end -->'
const SERVER = fileURLToPath(new URL('soak-server.mjs', import.meta.url))
const STORAGES = ['encrypted', 'nacl', 'redis', 'memcached']
const COOKIE_NAME = 'AIOHTTP_SESSION'

const HELP = `Usage: node bench/soak.mjs [options]

  --storage a,b        storages to soak, one after the other (default: ${STORAGES.join(',')};
                       also: simple)
  --duration S         seconds of load per storage (default 60)
  --connections N      concurrent keep-alive connections (default 32)
  --sessions N         distinct sessions (logins) per storage over the run (default 50000)
  --active N           users active at once; past that, a random one walks away and
                       leaves its session behind (default 2000)
  --write-ratio F      share of a logged-in user's requests that change the session (default 0.2)
  --logout-ratio F     share that log out (default 0.01); the rest read
  --sample S           seconds between memory / event-loop samples (default 5)
  --warmup S           samples before this many seconds are left out of the slopes (default 10)
  --no-gc              do not force a full GC before each memory sample
  --server-cpus L      taskset CPU list for the server (default: 1)
  --load-cpus L        taskset CPU list for this process (the load) and the stores (default: 0)
  --no-pin             do not pin processes to CPUs
  --allow-stale        run even if dist/ is older than the sources
  --readme             write the results into bench/README.md (default: only for a run of
                       every default storage for at least 60 s each)
  --no-readme          never write bench/README.md`

const { values: options } = parseArgs({
  options: {
    storage: { type: 'string', default: STORAGES.join(',') },
    duration: { type: 'string', default: '60' },
    connections: { type: 'string', default: '32' },
    sessions: { type: 'string', default: '50000' },
    active: { type: 'string', default: '2000' },
    'write-ratio': { type: 'string', default: '0.2' },
    'logout-ratio': { type: 'string', default: '0.01' },
    sample: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '10' },
    'no-gc': { type: 'boolean', default: false },
    'server-cpus': { type: 'string', default: '1' },
    'load-cpus': { type: 'string', default: '0' },
    'no-pin': { type: 'boolean', default: false },
    'allow-stale': { type: 'boolean', default: false },
    readme: { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})

if (options.help) {
  console.log(HELP)
  process.exit(0)
}

function number (name, { integer = false, min = 0, max = Infinity } = {}) {
  const value = Number(options[name])
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    console.error(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min}${max === Infinity ? '' : ` to ${max}`}; got ${options[name]}`)
    process.exit(2)
  }
  return value
}

const settings = {
  duration: number('duration', { min: 1 }),
  connections: number('connections', { integer: true, min: 1 }),
  sessions: number('sessions', { integer: true, min: 1 }),
  active: number('active', { integer: true, min: 1 }),
  writeRatio: number('write-ratio', { max: 1 }),
  logoutRatio: number('logout-ratio', { max: 1 }),
  sample: number('sample', { min: 0.5 }),
  warmup: number('warmup'),
  gc: !options['no-gc']
}
if (settings.writeRatio + settings.logoutRatio > 1) {
  console.error('--write-ratio and --logout-ratio add up to more than 1')
  process.exit(2)
}
const storages = options.storage.split(',').map((name) => name.trim()).filter(Boolean)
for (const storage of storages) findServer(`ours-${storage}`)
const fullRun = STORAGES.every((storage) => storages.includes(storage)) && settings.duration >= 60

function log (text) {
  process.stderr.write(text + '\n')
}

/** One HTTP exchange; resolves with the status, the body text and our session cookie's Set-Cookie. */
function send (agent, port, method, path, cookie) {
  return new Promise((resolve, reject) => {
    const headers = method === 'POST' ? { 'content-length': '0' } : {}
    if (cookie !== undefined) headers.cookie = cookie
    const request = http.request({ agent, host: '127.0.0.1', port, method, path, headers }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => {
        const setCookie = response.headers['set-cookie']?.find((header) => header.startsWith(COOKIE_NAME + '='))
        resolve({ status: response.statusCode, body, setCookie })
      })
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end()
  })
}

function parseJson (text) {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The `name=value` a browser sends back for a Set-Cookie; undefined when it deletes the cookie. */
function cookieFrom (setCookie) {
  const pair = setCookie.split(';')[0]
  return pair.length > COOKIE_NAME.length + 1 && !/;\s*Max-Age=0(;|$)/i.test(setCookie) ? pair : undefined
}

/**
 * The users of one soak run. Idle users wait in `idle` (a request takes one out, so one
 * user never has two requests in flight: like a browser tab, each sees its own last write).
 */
class Crowd {
  constructor () {
    this.idle = []
    this.inFlight = 0
    this.nextId = 0
  }

  get active () {
    return this.idle.length + this.inFlight
  }

  take () {
    const index = Math.floor(Math.random() * this.idle.length)
    const user = this.idle[index]
    this.idle[index] = this.idle[this.idle.length - 1]
    this.idle.pop()
    this.inFlight++
    return user
  }

  /** A request finished; the user stays (`keep`) or is gone (logged out, or in an unknown state). */
  release (user, keep) {
    this.inFlight--
    if (keep) this.idle.push(user)
  }

  /** A random idle user walks away, its session left in the store until it expires. */
  abandonOne () {
    if (this.idle.length === 0) return false
    this.take()
    this.inFlight--
    return true
  }
}

function newCounts () {
  return {
    requests: 0,
    byKind: { login: 0, read: 0, write: 0, logout: 0 },
    statuses: {},
    serverErrors: 0,
    otherErrors: 0,
    connectionErrors: 0,
    mismatches: 0,
    examples: [],
    abandoned: 0,
    peakActive: 0
  }
}

function mismatch (counts, text) {
  counts.mismatches++
  if (counts.examples.length < 5) counts.examples.push(text)
}

/** Drives the server until the deadline with `connections` concurrent users' requests. */
async function drive (port, counts, latency, { deadline, startedAt }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: settings.connections })
  const crowd = new Crowd()
  const loginsDue = () => settings.sessions * Math.min(1, (performance.now() - startedAt) / (settings.duration * 1000))
  let logins = 0

  async function exchange (kind, method, path, cookie) {
    const start = performance.now()
    counts.requests++
    counts.byKind[kind]++
    try {
      const response = await send(agent, port, method, path, cookie)
      latency.record(Math.max(1, Math.round((performance.now() - start) * 1000)))
      counts.statuses[response.status] = (counts.statuses[response.status] ?? 0) + 1
      if (response.status >= 500) counts.serverErrors++
      else if (response.status !== 200) counts.otherErrors++
      return response
    } catch (error) {
      counts.connectionErrors++
      if (counts.examples.length < 5) counts.examples.push(`${kind}: ${error instanceof Error ? error.message : String(error)}`)
      return undefined
    }
  }

  async function login () {
    const name = `u${crowd.nextId++}`
    logins++
    crowd.inFlight++
    const response = await exchange('login', 'POST', `/soak/login?user=${name}`)
    const cookie = response?.status === 200 && response.setCookie !== undefined ? cookieFrom(response.setCookie) : undefined
    if (response?.status === 200 && cookie === undefined) mismatch(counts, 'a login answered without a session cookie')
    crowd.release({ name, cookie, visits: 0 }, cookie !== undefined)
    counts.peakActive = Math.max(counts.peakActive, crowd.active)
    while (crowd.active > settings.active && crowd.abandonOne()) counts.abandoned++
  }

  async function visit () {
    const user = crowd.take()
    const roll = Math.random()
    if (roll < settings.logoutRatio) {
      const response = await exchange('logout', 'POST', '/soak/logout', user.cookie)
      crowd.release(user, false)
      if (response?.status === 200 && (response.setCookie === undefined || cookieFrom(response.setCookie) !== undefined)) {
        mismatch(counts, 'a logout did not clear the cookie')
      }
      return
    }
    const writing = roll < settings.logoutRatio + settings.writeRatio
    const response = writing
      ? await exchange('write', 'POST', '/soak/write', user.cookie)
      : await exchange('read', 'GET', '/soak/read', user.cookie)
    if (response?.status !== 200) {
      // A failed read changed nothing; after a failed write the session's state is unknown.
      crowd.release(user, response !== undefined && !writing)
      return
    }
    const body = parseJson(response.body)
    const expected = writing ? user.visits + 1 : user.visits
    if (body?.user !== user.name || body?.visits !== expected) {
      mismatch(counts, `${writing ? 'write' : 'read'}: expected ${user.name} with ${expected} visits, got ${response.body}`)
      crowd.release(user, false)
      return
    }
    user.visits = expected
    if (response.setCookie !== undefined) user.cookie = cookieFrom(response.setCookie)
    crowd.release(user, user.cookie !== undefined)
  }

  async function worker () {
    while (performance.now() < deadline) {
      if (crowd.idle.length === 0 || logins < loginsDue()) await login()
      else await visit()
    }
  }

  await Promise.all(Array.from({ length: settings.connections }, worker))
  agent.destroy()
  return { logins }
}

async function launch (storage, env, cpus) {
  const nodeArgs = settings.gc ? ['--expose-gc'] : []
  const [command, args] = pinned(cpus, process.execPath, [...nodeArgs, SERVER, storage])
  const { child, value } = await startProcess(command, args, {
    name: `soak server (${storage})`,
    env: { ...process.env, NODE_ENV: 'production', ...env },
    ready: (stdout) => /SOAK_READY (\d+)/.exec(stdout)?.[1]
  })
  return { child, port: Number(value) }
}

async function stats (port, path) {
  const response = await send(undefined, port, path.startsWith('/soak/start') ? 'POST' : 'GET', path)
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${response.body.slice(0, 200)}`)
  return JSON.parse(response.body)
}

const MB = 1024 * 1024

/** Least-squares slope of `value` over time, in MB per minute. */
function slope (samples, value) {
  const points = samples.filter((sample) => value(sample) !== undefined).map((sample) => [sample.elapsed / 60, value(sample) / MB])
  if (points.length < 2) return undefined
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / points.length
  const spread = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0)
  return spread === 0 ? undefined : points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0) / spread
}

function memorySummary (samples) {
  const steady = samples.filter((sample) => sample.elapsed >= settings.warmup)
  const used = steady.length >= 2 ? steady : samples
  const middleTime = (used[0].elapsed + used.at(-1).elapsed) / 2
  const middle = used.reduce((best, sample) => (Math.abs(sample.elapsed - middleTime) < Math.abs(best.elapsed - middleTime) ? sample : best))
  const pick = (sample) => ({
    elapsed: sample.elapsed,
    rss: sample.memory.rss,
    heapUsed: sample.memory.heapUsed,
    heapAfterGc: sample.heapAfterGc,
    heapTotal: sample.memory.heapTotal,
    external: sample.memory.external
  })
  // V8 grows its young generation in steps during the first part of a run (RSS follows):
  // the second half's slope tells a step that is over from a steady climb.
  const secondHalf = used.filter((sample) => sample.elapsed >= middleTime)
  return {
    from: used[0].elapsed,
    start: pick(used[0]),
    middle: pick(middle),
    end: pick(used.at(-1)),
    rssSlopeMbPerMin: slope(used, (sample) => sample.memory.rss),
    rssSlopeSecondHalfMbPerMin: slope(secondHalf, (sample) => sample.memory.rss),
    heapAfterGcSlopeMbPerMin: slope(used, (sample) => sample.heapAfterGc),
    heapAfterGcSlopeSecondHalfMbPerMin: slope(secondHalf, (sample) => sample.heapAfterGc),
    heapUsedSlopeMbPerMin: slope(used, (sample) => sample.memory.heapUsed)
  }
}

async function soak (storage, stores, pinning) {
  const entry = findServer(`ours-${storage}`)
  const skipped = missingFiles(entry)
  if (skipped !== undefined) return { storage, skipped }
  for (const kind of entry.needs) await stores[kind].flush()
  const server = await launch(storage, storeEnv(stores), pinning.serverCpus)
  const counts = newCounts()
  const latency = createHistogram()
  const samples = []
  try {
    await stats(server.port, '/soak/start')
    const startedAt = performance.now()
    const deadline = startedAt + settings.duration * 1000
    const cpuAtStart = processCpuSeconds(server.child.pid)
    const loadCpuAtStart = process.cpuUsage()
    const serverCores = pinning.serverCpus === undefined ? [] : cpuList(pinning.serverCpus)
    const coreBusy = () => serverCores.reduce((sum, core) => sum + (coreTimes()[core]?.busy ?? 0), 0)
    const coreBusyAtStart = coreBusy()
    const take = async () => {
      const sample = await stats(server.port, `/soak/stats${settings.gc ? '?gc=1' : ''}`)
      const elapsed = (performance.now() - startedAt) / 1000
      samples.push({ ...sample, elapsed: Math.round(elapsed * 10) / 10, requests: counts.requests, serverCpuSeconds: processCpuSeconds(server.child.pid) - cpuAtStart })
      const last = samples.at(-1)
      log(`  ${storage.padEnd(10)} ${String(Math.round(elapsed)).padStart(4)} s  ${String(counts.requests).padStart(9)} requests  ` +
        `rss ${(last.memory.rss / MB).toFixed(1)} MB  heap ${((last.heapAfterGc ?? last.memory.heapUsed) / MB).toFixed(1)} MB  ` +
        `loop p99 ${last.eventLoop.p99} ms max ${last.eventLoop.max} ms  errors ${counts.serverErrors + counts.otherErrors + counts.connectionErrors + counts.mismatches}`)
    }
    await take()
    // One sample at a time; a failed one stops the run once the load is over.
    let sampling = Promise.resolve()
    let samplingError
    const timer = setInterval(() => {
      sampling = sampling.then(take).catch((error) => { samplingError ??= error })
    }, settings.sample * 1000)
    let driven
    try {
      driven = await drive(server.port, counts, latency, { deadline, startedAt })
    } finally {
      clearInterval(timer)
      await sampling
    }
    if (samplingError !== undefined) throw samplingError
    const seconds = (performance.now() - startedAt) / 1000
    await take()
    const serverCpuSeconds = processCpuSeconds(server.child.pid) - cpuAtStart
    const loadCpu = process.cpuUsage(loadCpuAtStart)
    // CPU time on the server's core that the server did not use: other processes'.
    const foreignCpu = serverCores.length === 0 ? undefined : Math.max(0, (coreBusy() - coreBusyAtStart - serverCpuSeconds) / seconds / serverCores.length)
    const windows = samples.slice(1)
    return {
      storage,
      label: entry.label,
      seconds: Math.round(seconds * 10) / 10,
      ...counts,
      logins: driven.logins,
      rps: counts.requests / seconds,
      failures: counts.serverErrors + counts.otherErrors + counts.connectionErrors + counts.mismatches,
      latencyMs: { p50: latency.percentile(50) / 1000, p99: latency.percentile(99) / 1000, max: latency.max / 1000 },
      eventLoopMs: {
        p50: samples.at(-1).eventLoopRun.p50,
        p99: samples.at(-1).eventLoopRun.p99,
        worstWindowP99: Math.max(...windows.map((sample) => sample.eventLoop.p99)),
        max: Math.max(...windows.map((sample) => sample.eventLoop.max))
      },
      serverCpu: serverCpuSeconds / seconds,
      serverCpuUsPerRequest: (serverCpuSeconds * 1e6) / counts.requests,
      loadCpu: (loadCpu.user + loadCpu.system) / 1e6 / seconds,
      foreignCpu,
      slowestForcedGcMs: Math.max(0, ...samples.map((sample) => sample.gcMs ?? 0)),
      memory: memorySummary(samples),
      samples
    }
  } finally {
    await stop(server.child, 10000)
  }
}

const mb = (bytes) => (bytes === undefined ? '–' : (bytes / MB).toFixed(1))
const perMin = (value) => (value === undefined ? '–' : `${value >= 0 ? '+' : ''}${value.toFixed(2)}`)
const thousands = (value) => Math.round(value).toLocaleString('en-US')

function markdown (results) {
  const { meta, runs } = results
  const lines = []
  const out = (text = '') => lines.push(text)
  out(`Soak of ${meta.startedAt}: ${meta.settings.duration} s per storage, ${meta.settings.connections} connections, ` +
    `${thousands(meta.settings.sessions)} sessions per storage, at most ${thousands(meta.settings.active)} active users, ` +
    `writes ${meta.settings.writeRatio * 100} %, logouts ${meta.settings.logoutRatio * 100} % of a user's requests; ` +
    `samples every ${meta.settings.sample} s${meta.settings.gc ? ' after a forced full GC' : ''}, slopes from ${meta.settings.warmup} s on. ` +
    `Server on CPU ${meta.pinning.serverCpus ?? '(not pinned)'}, load generator and stores on CPU ${meta.pinning.loadCpus ?? '(not pinned)'}.`)
  out()
  out(`Command: \`${meta.command}\` (commit ${meta.git}); Node.js ${meta.machine.node}, ${meta.machine.cpuModel}, ${meta.machine.cores} cores. Raw results: \`${meta.resultsFile}\`.`)
  out()
  const measured = runs.filter((run) => run.skipped === undefined)
  out('| storage | requests | req/s | logins / logouts / abandoned | failures (5xx, other, connection, wrong data) | latency p50 / p99 / max ms | event loop p50 / p99 / max ms | server CPU | µs CPU / request | load generator CPU |')
  out('|---|--:|--:|--:|---|--:|--:|--:|--:|--:|')
  for (const run of measured) {
    out(`| ${run.label} | ${thousands(run.requests)} | ${thousands(run.rps)} | ${thousands(run.logins)} / ${thousands(run.byKind.logout)} / ${thousands(run.abandoned)} | ` +
      `**${run.failures}** (${run.serverErrors}, ${run.otherErrors}, ${run.connectionErrors}, ${run.mismatches}) | ` +
      `${run.latencyMs.p50.toFixed(2)} / ${run.latencyMs.p99.toFixed(2)} / ${run.latencyMs.max.toFixed(1)} | ` +
      `${run.eventLoopMs.p50} / ${run.eventLoopMs.p99} / ${run.eventLoopMs.max} | ${Math.round(run.serverCpu * 100)} % | ${run.serverCpuUsPerRequest.toFixed(1)} | ${Math.round(run.loadCpu * 100)} % |`)
  }
  out()
  out('| storage | RSS MB start / middle / end | RSS slope MB/min: whole / second half | heap after GC MB start / middle / end | heap after GC slope MB/min: whole / second half | V8 heap total MB start / end |')
  out('|---|--:|--:|--:|--:|--:|')
  for (const run of measured) {
    const { start, middle, end } = run.memory
    out(`| ${run.label} | ${mb(start.rss)} / ${mb(middle.rss)} / ${mb(end.rss)} | ` +
      `${perMin(run.memory.rssSlopeMbPerMin)} / ${perMin(run.memory.rssSlopeSecondHalfMbPerMin)} | ` +
      `${mb(start.heapAfterGc)} / ${mb(middle.heapAfterGc)} / ${mb(end.heapAfterGc)} | ` +
      `${perMin(run.memory.heapAfterGcSlopeMbPerMin)} / ${perMin(run.memory.heapAfterGcSlopeSecondHalfMbPerMin)} | ` +
      `${mb(start.heapTotal)} / ${mb(end.heapTotal)} |`)
  }
  const notes = []
  for (const run of measured) {
    const others = run.foreignCpu === undefined ? '' : `; other processes took ${Math.round(run.foreignCpu * 100)} % of the server's core`
    if (run.serverCpu < 0.9 && run.loadCpu < 0.9) {
      notes.push(`${run.storage}: neither the server (${Math.round(run.serverCpu * 100)} %) nor the load generator (${Math.round(run.loadCpu * 100)} %) used a full core${others}: ` +
        'the machine was busy, so req/s, latency and event-loop delay are provisional (failures and memory still count)')
    } else if (run.foreignCpu > 0.1) {
      notes.push(`${run.storage}${others}: req/s, latency and event-loop delay are provisional`)
    }
    // A full GC of a heap of about 10 MB takes milliseconds: much longer means the process was not running.
    if (run.slowestForcedGcMs > 250) notes.push(`${run.storage}: a forced GC took ${Math.round(run.slowestForcedGcMs)} ms, i.e. the server was kept off the CPU`)
  }
  if (notes.length > 0) {
    out()
    out('Notes on this run:')
    out()
    for (const note of notes) out(`- ${note}.`)
  }
  for (const run of runs.filter((entry) => entry.skipped !== undefined)) out(`\n${run.storage} skipped: ${run.skipped}`)
  for (const run of measured.filter((entry) => entry.examples.length > 0)) out(`\n${run.storage}, first failures: ${run.examples.map((text) => `\`${text}\``).join('; ')}`)
  return lines.join('\n')
}

function writeReadme (text) {
  const readme = readFileSync(README, 'utf8')
  const start = readme.indexOf(START_MARK)
  const end = readme.indexOf(END_MARK)
  if (start === -1 || end < start) {
    log(`bench/README.md has no ${START_MARK} … ${END_MARK} section; results not written there`)
    return
  }
  writeFileSync(README, readme.slice(0, start + START_MARK.length) + '\n' + text + '\n' + readme.slice(end))
  log('results written to bench/README.md')
}

async function main () {
  checkBuild(packageDir(), { allowStale: options['allow-stale'] })
  const pinnable = !options['no-pin'] && cpus().length >= 2 && canPin()
  const pinning = pinnable ? { serverCpus: options['server-cpus'], loadCpus: options['load-cpus'] } : { serverCpus: undefined, loadCpus: undefined }
  if (!pinnable) log('warning: running without CPU pinning: the load generator competes with the server')
  if (pinnable) pinSelf(pinning.loadCpus)

  const kinds = new Set(storages.flatMap((storage) => findServer(`ours-${storage}`).needs))
  const stores = {}
  const startedAt = new Date().toISOString()
  const runs = []
  log(`soaking ${storages.join(', ')} for ${settings.duration} s each`)
  try {
    if (kinds.has('redis')) stores.redis = await startRedis(pinning.loadCpus)
    if (kinds.has('memcached')) stores.memcached = await startMemcached(pinning.loadCpus)
    for (const storage of storages) runs.push(await soak(storage, stores, pinning))
  } finally {
    for (const store of Object.values(stores)) await store.stop()
  }

  const stamp = startedAt.replace(/[:.]/g, '-')
  const resultsFile = `bench/results/soak-${stamp}.json`
  const args = process.argv.slice(2).join(' ')
  const results = {
    meta: {
      startedAt,
      finishedAt: new Date().toISOString(),
      command: process.env.npm_lifecycle_event === 'soak' ? `npm run soak${args ? ` -- ${args}` : ''}` : `node bench/soak.mjs${args ? ` ${args}` : ''}`,
      resultsFile,
      settings,
      pinning,
      machine: machineInfo(),
      git: gitRevision(packageDir()),
      versions: Object.fromEntries(['fastify', 'fastify-sessions', 'ioredis', 'memjs', 'sodium-native'].map((name) => [name, packageVersion(name, packageDir())]))
    },
    runs
  }
  const report = markdown(results)
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(`${ROOT}${resultsFile}`, JSON.stringify(results, null, 2) + '\n')
  writeFileSync(`${RESULTS}/soak-${stamp}.md`, report + '\n')
  console.log(report)
  if (options.readme || (fullRun && !options['no-readme'])) writeReadme(report)
  else log(`bench/README.md not updated (${options['no-readme'] ? '--no-readme' : 'partial run; pass --readme to write it anyway'})`)
  log(`raw results: ${resultsFile}`)
  if (runs.some((run) => run.skipped === undefined && run.failures > 0)) process.exitCode = 1
}

main().catch((error) => {
  console.error(error.stack ?? error)
  process.exit(1)
})
