// The benchmark runner: `node bench/run.mjs [options]` (see --help).
//
// Each round starts every server once, one at a time, in a rotating order, and loads
// each scenario with wrk from another process. Bare Fastify runs in every round, and
// every ratio compares numbers taken in the same round, so slow drifts of the machine
// cancel out. Medians over rounds go to stdout, bench/results/ (JSON + Markdown) and,
// for a full run, bench/README.md.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { checkBuild } from './lib/build.mjs'
import { storeEnv, launchServer } from './lib/launch.mjs'
import { gitRevision, machineInfo, packageVersion } from './lib/machine.mjs'
import { canPin, coreTimes, cpuList, pinSelf } from './lib/processes.mjs'
import { markdown } from './lib/report.mjs'
import { probeConcurrent, runConcurrent } from './lib/concurrent.mjs'
import { SESSIONS_PER_CONNECTION, defaultScenarios, findScenario, login, loginMany, probe, scenarios as allScenarios, supports } from './lib/scenarios.mjs'
import { opsPerRequest, startMemcached, startRedis } from './lib/stores.mjs'
import { WRK, runWrk } from './lib/wrk.mjs'
import { findServer, missingFiles, packageDir, servers as allServers, variantB } from './servers.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = `${ROOT}bench/results`
const README = `${ROOT}bench/README.md`
const START_MARK = '<!-- bench:results:start -->'
const END_MARK = '<!-- bench:results:end -->'

const HELP = `Usage: node bench/run.mjs [options]

  --rounds N          rounds; each runs every server once (default 3)
  --duration S        measured seconds per scenario (default 3)
  --warmup S          warm-up seconds before each measurement (default 1)
  --connections N     wrk connections (default 32); the concurrent scenario runs
                      connections ÷ writers sessions side by side
  --writers N         concurrent scenario: requests sent at once on one session (default 16)
  --only a,b          only these servers (bare is always added: ratios need it)
  --all               include optional servers (${allServers.filter((s) => s.optional).map((s) => s.name).join(', ')})
  --scenarios a,b     these scenarios (${allScenarios.map((s) => s.name + (s.optional ? ' (optional)' : '')).join(', ')}; default: all but optional)
  --server-cpus L     taskset CPU list for the server (default: 1)
  --load-cpus L       taskset CPU list for wrk, Redis and Memcached (default: 0)
  --no-pin            do not pin processes to CPUs
  --max-noise F       re-measure a scenario when other processes took more than this
                      share of the server's or wrk's core during it (default 0.1) …
  --retries N         … at most N times, keeping the quietest attempt (default 2)
  --readme            write the results into bench/README.md (default: only for a full run)
  --no-readme         never write bench/README.md
  --allow-stale       run even if dist/ is older than the sources
  --package DIR       measure the build in DIR/dist/esm instead of this repository's
  --compare DIR       also measure our servers on the build in DIR/dist/esm (as
                      ours-…@b), in the same rounds: an A/B comparison of two builds
  --list              list the servers and exit

Servers: ${allServers.map((s) => s.name).join(', ')}`

const { values: options } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '32' },
    writers: { type: 'string', default: '16' },
    only: { type: 'string' },
    all: { type: 'boolean', default: false },
    scenarios: { type: 'string' },
    'server-cpus': { type: 'string', default: '1' },
    'load-cpus': { type: 'string', default: '0' },
    'no-pin': { type: 'boolean', default: false },
    'max-noise': { type: 'string', default: '0.1' },
    retries: { type: 'string', default: '2' },
    readme: { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false },
    'allow-stale': { type: 'boolean', default: false },
    package: { type: 'string' },
    compare: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})

// Read by servers.mjs here and in every server process.
if (options.package !== undefined) process.env.BENCH_PACKAGE_DIR = resolve(options.package) + '/'
if (options.compare !== undefined) process.env.BENCH_PACKAGE_DIR_B = resolve(options.compare) + '/'

if (options.help) {
  console.log(HELP)
  process.exit(0)
}
if (options.list) {
  for (const server of allServers) console.log(`${server.name.padEnd(24)} ${server.label}${server.optional ? ' (optional)' : ''}${missingFiles(server) ? ` — ${missingFiles(server)}` : ''}`)
  process.exit(0)
}

function positive (name, { integer = false } = {}) {
  const value = Number(options[name])
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    console.error(`--${name} must be a positive ${integer ? 'integer' : 'number'}; got ${options[name]}`)
    process.exit(2)
  }
  return value
}

const rounds = positive('rounds', { integer: true })
// wrk takes whole seconds.
const duration = positive('duration', { integer: true })
const warmup = positive('warmup', { integer: true })
const connections = positive('connections', { integer: true })
const writers = positive('writers', { integer: true })
const maxNoise = positive('max-noise')
const retries = Number(options.retries)
if (!Number.isInteger(retries) || retries < 0) {
  console.error(`--retries must be a whole number; got ${options.retries}`)
  process.exit(2)
}
const names = options.only?.split(',').map((name) => name.trim()).filter(Boolean)
const chosen = names === undefined
  ? allServers.filter((server) => options.all || !server.optional)
  : allServers.filter((server) => server.name === 'bare' || names.map((name) => findServer(name).name).includes(server.name))
const selected = options.compare === undefined ? chosen : [...chosen, ...chosen.filter((server) => server.ours).map(variantB)]
const scenarios = options.scenarios === undefined ? defaultScenarios : options.scenarios.split(',').map((name) => findScenario(name.trim()))
const fullRun = names === undefined && options.scenarios === undefined && rounds >= 3

function preflight () {
  if (!existsSync(WRK)) throw new Error(`${WRK} not found: install it (Debian: apt-get install wrk)`)
  checkBuild(packageDir(), { allowStale: options['allow-stale'] })
}

function log (text) {
  process.stderr.write(text + '\n')
}

function snapshot (server, stores, serverCores, loadCores) {
  const cores = coreTimes()
  return {
    at: performance.now(),
    serverCpu: server.cpuSeconds(),
    storeCpu: Object.values(stores).reduce((sum, store) => sum + store.cpuSeconds(), 0),
    serverCoreBusy: serverCores.reduce((sum, core) => sum + (cores[core]?.busy ?? 0), 0),
    loadCoreBusy: loadCores.reduce((sum, core) => sum + (cores[core]?.busy ?? 0), 0)
  }
}

async function storeCounters (stores, entry) {
  const counters = {}
  for (const kind of entry.needs) counters[kind] = await stores[kind].counters()
  return counters
}

async function measureServer (entry, round, context) {
  const { stores, pinning, runs } = context
  for (const kind of entry.needs) await stores[kind].flush()
  const applicable = scenarios.filter((scenario) => supports(entry, scenario))
  if (applicable.length === 0) return
  const server = await launchServer(entry.name, { cpus: pinning.serverCpus, env: storeEnv(stores) })
  try {
    // The sessions of each setup route the scenarios log in with (GET /login, GET
    // /login-old): one, or as many as the `spread` scenarios cycle through (the bare
    // server has only its stand-in cookie).
    const sessions = new Map()
    for (const scenario of applicable.filter((candidate) => candidate.driver !== 'concurrent')) {
      const path = scenario.login ?? '/login'
      const first = sessions.get(path)?.[0] ?? entry.cookie ?? await login(server.base, path)
      const wanted = entry.cookie === undefined && scenario.spread ? SESSIONS_PER_CONNECTION * connections : 1
      const known = sessions.get(path) ?? [first]
      if (known.length < wanted) known.push(...await loginMany(server.base, wanted - known.length, path))
      sessions.set(path, known)
    }
    const cookiesOf = (scenario) => {
      const known = sessions.get(scenario.login ?? '/login')
      return scenario.spread ? known : known.slice(0, 1)
    }
    const setCookie = {}
    // Check every scenario once before measuring any (the bare server has no real session).
    for (const scenario of applicable) {
      setCookie[scenario.name] = scenario.driver === 'concurrent'
        ? (await probeConcurrent(server.base)).setCookie
        : (await probe(server.base, scenario, cookiesOf(scenario)[0], { checkBody: entry.name !== 'bare' })).setCookie
    }
    const serverCores = pinning.serverCpus === undefined ? [] : cpuList(pinning.serverCpus)
    const loadCores = pinning.loadCpus === undefined ? [] : cpuList(pinning.loadCpus)
    for (const scenario of applicable) {
      const load = scenario.driver === 'concurrent'
        ? { driver: scenario.driver, base: server.base, connections, writers }
        : { driver: scenario.driver, url: server.url(scenario.path), cookies: scenario.cookie ? cookiesOf(scenario) : undefined, connections, cpus: pinning.loadCpus }
      await generateLoad(load, warmup)
      let best
      for (let attempt = 0; attempt <= retries; attempt++) {
        const run = await measureScenario(entry, scenario, round, { server, load, stores, serverCores, loadCores, setCookie: setCookie[scenario.name] })
        run.attempts = attempt + 1
        if (best === undefined || noise(run) < noise(best)) best = run
        if (noise(run) <= maxNoise) break
        if (attempt < retries) log(`  ${entry.name} ${scenario.name}: other processes took ${Math.round(noise(run) * 100)}% of a measured core; measuring again`)
      }
      runs.push(best)
      logRun(best)
    }
  } finally {
    await server.stop()
  }
}

/**
 * Runs a scenario's load generator for `seconds`: wrk, or the concurrent-writers driver
 * (in this process, which main() pinned to the load generator's cores like wrk).
 */
function generateLoad ({ driver, ...load }, seconds) {
  return driver === 'concurrent'
    ? runConcurrent({ base: load.base, connections: load.connections, writers: load.writers, seconds })
    : runWrk({ url: load.url, cookies: load.cookies, connections: load.connections, cpus: load.cpus, seconds })
}

/** The larger share of a core (server's or load generator's) that other processes took. */
function noise (run) {
  return Math.max(run.foreignCpu ?? 0, run.foreignLoadCpu ?? 0)
}

function logRun (run) {
  log(`  ${run.server.padEnd(24)} ${run.scenario.padEnd(7)} ${Math.round(run.rps).toString().padStart(7)} req/s  p99 ${run.latencyMs.p99.toFixed(2).padStart(6)} ms  ` +
    `${run.cpuUsPerRequest.toFixed(1).padStart(6)} µs CPU/req  wrk ${Math.round(run.wrkCpu * 100)}%  server ${Math.round(run.serverCpu * 100)}%` +
    (run.foreignCpu === undefined ? '' : `  others ${Math.round(run.foreignCpu * 100)}%/${Math.round(run.foreignLoadCpu * 100)}%`) +
    (run.concurrent === undefined ? '' : `  lost ${run.concurrent.lost}/${run.concurrent.acknowledged} acknowledged writes`) +
    (run.errorCount > 0 ? `  ERRORS ${run.errorCount}` : ''))
}

/** One measured wrk run of a scenario, with the CPU and store counters around it. */
async function measureScenario (entry, scenario, round, { server, load, stores, serverCores, loadCores, setCookie }) {
  const countersBefore = await storeCounters(stores, entry)
  const before = snapshot(server, stores, serverCores, loadCores)
  const result = await generateLoad(load, duration)
  const after = snapshot(server, stores, serverCores, loadCores)
  const countersAfter = await storeCounters(stores, entry)
  const wall = (after.at - before.at) / 1000
  const serverCpu = (after.serverCpu - before.serverCpu) / wall
  const coreBusy = (after.serverCoreBusy - before.serverCoreBusy) / wall
  const storeCpu = (after.storeCpu - before.storeCpu) / wall
  const loadBusy = (after.loadCoreBusy - before.loadCoreBusy) / wall
  return {
    round,
    server: entry.name,
    scenario: scenario.name,
    rps: result.rps,
    requests: result.requests,
    seconds: result.durationSeconds,
    latencyMs: result.latencyMs,
    errors: result.errors,
    errorCount: Object.values(result.errors).reduce((sum, count) => sum + count, 0),
    setCookie,
    // concurrent scenario: sessions, writes, acknowledged, lost, sessionsWithLoss.
    concurrent: 'concurrent' in result ? result.concurrent : undefined,
    wrkCpu: result.wrkCpu,
    serverCpu,
    // Server CPU time per request: the cost of a request, even when the server was not
    // the bottleneck (a busy machine): the figure to compare on a noisy machine.
    cpuUsPerRequest: ((after.serverCpu - before.serverCpu) * 1e6) / result.requests,
    storeCpu: entry.needs.length === 0 ? undefined : storeCpu,
    // The share of the server's cores that other processes took during the run.
    foreignCpu: serverCores.length === 0 ? undefined : Math.max(0, (coreBusy - serverCpu) / serverCores.length),
    // The same on the load generator's cores (besides wrk and the stores). It matters
    // too: the two "cores" of a small VM are often hyper-threads of one physical core.
    foreignLoadCpu: loadCores.length === 0 ? undefined : Math.max(0, (loadBusy - result.wrkCpu - storeCpu) / loadCores.length),
    storeOps: entry.needs.length === 0
      ? undefined
      : Object.assign({}, ...entry.needs.map((kind) => opsPerRequest(countersBefore[kind], countersAfter[kind], result.requests)))
  }
}

function writeReadme (text) {
  const readme = existsSync(README) ? readFileSync(README, 'utf8') : `# Benchmarks\n\n${START_MARK}\n${END_MARK}\n`
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
  preflight()
  const pinned = !options['no-pin'] && cpus().length >= 2 && canPin()
  const pinning = pinned
    ? { pinned, serverCpus: options['server-cpus'], loadCpus: options['load-cpus'] }
    : { pinned, serverCpus: undefined, loadCpus: undefined }
  if (!pinned) log('warning: running without CPU pinning (single core, --no-pin or no taskset): the load generator competes with the server')
  // The runner only waits and samples; keep it off the server's core.
  if (pinned) pinSelf(pinning.loadCpus)

  const servers = selected.map((entry) => ({ ...entry, skipped: missingFiles(entry) }))
  const active = servers.filter((entry) => entry.skipped === undefined)
  for (const entry of servers.filter((server) => server.skipped !== undefined)) log(`skipping ${entry.name}: ${entry.skipped}`)
  const measurements = active.reduce((sum, entry) => sum + scenarios.filter((scenario) => supports(entry, scenario)).length, 0)
  const estimate = rounds * (measurements * (warmup + duration + 0.4) + active.length * 1.5)
  log(`${active.length} servers × ${scenarios.length} scenarios × ${rounds} rounds, about ${Math.ceil(estimate / 60)} min`)

  const stores = {}
  const kinds = new Set(active.flatMap((entry) => entry.needs))
  const startedAt = new Date().toISOString()
  const context = { stores, pinning, runs: [] }
  const failures = []
  try {
    if (kinds.has('redis')) stores.redis = await startRedis(pinning.loadCpus)
    if (kinds.has('memcached')) stores.memcached = await startMemcached(pinning.loadCpus)
    for (let round = 1; round <= rounds; round++) {
      // Rotate the order every round, so no server always runs first or last.
      const offset = (round - 1) % active.length
      const order = [...active.slice(offset), ...active.slice(0, offset)]
      log(`round ${round}/${rounds}: ${order.map((entry) => entry.name).join(', ')}`)
      for (const entry of order) {
        try {
          await measureServer(entry, round, context)
        } catch (caught) {
          const error = /** @type {Error} */ (caught)
          failures.push({ round, server: entry.name, error: String(error.stack ?? error) })
          log(`  ${entry.name} failed: ${String(error.message ?? error).split('\n').slice(0, 6).join('\n    ')}`)
        }
      }
    }
  } finally {
    for (const store of Object.values(stores)) await store.stop()
  }

  const stamp = startedAt.replace(/[:.]/g, '-')
  const resultsFile = `bench/results/${stamp}.json`
  const args = process.argv.slice(2).join(' ')
  const results = {
    meta: {
      startedAt,
      finishedAt: new Date().toISOString(),
      command: process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : `node bench/run.mjs${args ? ` ${args}` : ''}`,
      resultsFile,
      options: { rounds, duration, warmup, connections, writers, threads: 1, maxNoise, retries },
      pinning,
      machine: machineInfo(),
      package: packageDir() === `${ROOT}` ? '.' : packageDir(),
      compare: process.env.BENCH_PACKAGE_DIR_B,
      git: gitRevision(packageDir()),
      versions: Object.fromEntries([...new Set(['fastify', ...active.flatMap((entry) => entry.packages)])].map((name) => [name, packageVersion(name, packageDir())]))
    },
    scenarios: scenarios.map(({ name, title, path, cookie, spread, driver }) => ({ name, title, path, cookie, spread, driver })),
    servers: servers.map(({ name, label, ours, optOut, concurrent, needs, skipped, variant, base }) => ({ name, label, ours, optOut, concurrent, needs, skipped, variant, base })),
    runs: context.runs,
    failures
  }
  const report = markdown(results)
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(`${ROOT}${resultsFile}`, JSON.stringify({ ...results, summary: report.rows, targets: report.targets }, null, 2) + '\n')
  writeFileSync(`${RESULTS}/${stamp}.md`, report.text + '\n')
  writeFileSync(`${RESULTS}/latest.md`, report.text + '\n')
  console.log(report.text)
  if (options.readme || (fullRun && !options['no-readme'])) writeReadme(report.text)
  else log(`bench/README.md not updated (${options['no-readme'] ? '--no-readme' : 'partial run; pass --readme to write it anyway'})`)
  log(`raw results: ${resultsFile}`)
  if (failures.length > 0) process.exitCode = 1
}

main().catch((error) => {
  console.error(error.message ?? error)
  process.exit(1)
})
