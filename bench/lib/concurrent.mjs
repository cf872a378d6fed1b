// The `concurrent` scenario's load generator: what a browser does when a page fires
// several requests at once on one session (an SPA's XHRs, two tabs, a prefetch), and
// whether every change survives.
//
// wrk cannot do this (it has no notion of a session, nor of reading one back), so it
// runs in the runner's own process, which run.mjs pins to the load generator's cores as
// it pins wrk. Each simulated user repeats, until the deadline:
//   1. GET /login without a cookie: a fresh session (so no round inherits another's keys);
//   2. `writers` requests at once, each `GET /write-key?key=cN` with a distinct key and the
//      cookie from step 1 (no cookie chaining: all of them loaded the same record);
//   3. GET /keys with that cookie: a key whose write was answered 200 but is missing
//      is a lost update.
// Several users run side by side (connections ÷ writers) so that the server always has
// work while one user logs in or reads back.
import { Agent, request as httpRequest } from 'node:http'
import { performance } from 'node:perf_hooks'
import { CONCURRENT_KEYS } from '../routes.mjs'

/** How long one request may take before it counts as a timeout (wrk's --timeout). */
const TIMEOUT_MS = 5000

/**
 * @typedef {object} Answer
 * @property {number} status
 * @property {string} body
 * @property {string[]} setCookie
 */

/**
 * One GET over a keep-alive agent. Resolves with the answer, or rejects on a socket
 * error or timeout.
 * @param {Agent} agent
 * @param {string} base
 * @param {string} path
 * @param {string | undefined} cookie
 * @returns {Promise<Answer>}
 */
function get (agent, base, path, cookie) {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(base + path, { agent, headers: cookie === undefined ? {} : { cookie }, timeout: TIMEOUT_MS }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk) => { body += chunk })
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, setCookie: response.headers['set-cookie'] ?? [] }))
      response.on('error', reject)
    })
    outgoing.on('timeout', () => outgoing.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
    outgoing.on('error', reject)
    outgoing.end()
  })
}

/** The Cookie header a browser sends back after these Set-Cookie headers. */
function cookieOf (setCookie) {
  return setCookie.map((value) => value.split(';')[0]).join('; ')
}

/** The keys GET /keys reports present, or throws when the answer is not one. */
function presentKeys (answer) {
  if (answer.status !== 200) throw new Error(`GET /keys gave ${answer.status}: ${answer.body.slice(0, 200)}`)
  const body = JSON.parse(answer.body)
  if (!Array.isArray(body.present)) throw new Error(`GET /keys gave no key list: ${answer.body.slice(0, 200)}`)
  return /** @type {string[]} */ (body.present)
}

async function login (agent, base) {
  const answer = await get(agent, base, '/login', undefined)
  const cookie = cookieOf(answer.setCookie)
  if (answer.status !== 200 || cookie === '') throw new Error(`GET /login gave ${answer.status} and no session cookie`)
  return cookie
}

/**
 * Checks that a server can run the scenario: a fresh session holds none of the keys,
 * and keys written one after the other are all read back. Without this, a server
 * whose /keys saw nothing would report every write as lost, and one whose /keys
 * reported everything would report none. Returns whether /write-key answered with a
 * Set-Cookie (reported, like the other scenarios).
 */
export async function probeConcurrent (base) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  try {
    const cookie = await login(agent, base)
    const before = presentKeys(await get(agent, base, '/keys', cookie))
    if (before.length !== 0) throw new Error(`concurrent: a fresh session already holds ${JSON.stringify(before)}`)
    let setCookie = false
    for (const key of ['c0', 'c1']) {
      const answer = await get(agent, base, `/write-key?key=${key}`, cookie)
      if (answer.status !== 200) throw new Error(`concurrent: GET /write-key gave ${answer.status}: ${answer.body.slice(0, 200)}`)
      setCookie ||= answer.setCookie.length > 0
    }
    const after = presentKeys(await get(agent, base, '/keys', cookie))
    if (after.join() !== 'c0,c1') throw new Error(`concurrent: after writing c0 then c1, /keys gave ${JSON.stringify(after)}`)
    return { setCookie }
  } finally {
    agent.destroy()
  }
}

function percentile (sorted, share) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(share * sorted.length) - 1)]
}

/**
 * Runs the scenario against `base` for `seconds` and returns a result shaped like
 * runWrk's (requests, rps, latency, errors, the generator's CPU), where requests and
 * rps count the concurrent writes only, plus what was lost:
 * `concurrent: { sessions, writes, acknowledged, lost, sessionsWithLoss, otherRequests }`.
 * A write counts as acknowledged when it was answered 200; only those can be lost.
 * @param {{ base: string, seconds: number, connections: number, writers: number }} options
 */
export async function runConcurrent ({ base, seconds, connections, writers }) {
  if (!Number.isInteger(writers) || writers < 2 || writers > CONCURRENT_KEYS.length) {
    throw new Error(`writers must be a whole number from 2 to ${CONCURRENT_KEYS.length}; got ${writers}`)
  }
  const users = Math.max(1, Math.floor(connections / writers))
  const agent = new Agent({ keepAlive: true, maxSockets: users * writers, maxFreeSockets: users * writers })
  const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }
  /** @type {number[]} */
  const latencies = []
  const counts = { sessions: 0, writes: 0, acknowledged: 0, lost: 0, sessionsWithLoss: 0, otherRequests: 0 }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  const deadline = started + seconds * 1000

  const write = async (cookie, key) => {
    const sent = performance.now()
    try {
      const answer = await get(agent, base, `/write-key?key=${key}`, cookie)
      latencies.push(performance.now() - sent)
      if (answer.status === 200) return true
      errors.status++
    } catch (caught) {
      if (/** @type {{ code?: string }} */ (caught).code === 'TIMEOUT') errors.timeout++
      else errors.read++
    }
    return false
  }

  const user = async () => {
    while (performance.now() < deadline) {
      const cookie = await login(agent, base)
      const keys = CONCURRENT_KEYS.slice(0, writers)
      const answered = await Promise.all(keys.map((key) => write(cookie, key)))
      const present = new Set(presentKeys(await get(agent, base, '/keys', cookie)))
      const acknowledged = keys.filter((_, index) => answered[index])
      const lost = acknowledged.filter((key) => !present.has(key)).length
      counts.sessions++
      counts.otherRequests += 2
      counts.writes += keys.length
      counts.acknowledged += acknowledged.length
      counts.lost += lost
      if (lost > 0) counts.sessionsWithLoss++
    }
  }

  try {
    await Promise.all(Array.from({ length: users }, user))
  } finally {
    agent.destroy()
  }
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  latencies.sort((a, b) => a - b)
  const mean = latencies.reduce((sum, value) => sum + value, 0) / latencies.length
  const stdev = Math.sqrt(latencies.reduce((sum, value) => sum + (value - mean) ** 2, 0) / latencies.length)
  return {
    requests: counts.writes,
    durationSeconds: elapsed,
    rps: counts.writes / elapsed,
    errors,
    latencyMs: {
      mean,
      stdev,
      p50: percentile(latencies, 0.5),
      p90: percentile(latencies, 0.9),
      p99: percentile(latencies, 0.99),
      p999: percentile(latencies, 0.999),
      max: latencies[latencies.length - 1] ?? NaN
    },
    // The runner's whole process is the generator here (it is otherwise idle).
    wrkCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
    concurrent: { ...counts, writers, users }
  }
}
