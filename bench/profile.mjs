// Profiles servers under load: `node bench/profile.mjs [options]` (see --help).
//
// Each server × scenario gets its own server process, pinned like in run.mjs. After a
// warm-up, the V8 CPU profiler (the one behind `node --cpu-prof`, driven through the
// inspector so start-up and warm-up stay out of the profile) samples the server while
// wrk loads it. Profiles and a Markdown summary go to bench/results/profiles/<time>/;
// open a .cpuprofile in Chrome DevTools (Performance tab) or speedscope for flame graphs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { analyze, profileMarkdown } from './lib/cpuprofile.mjs'
import { launchServer, storeEnv } from './lib/launch.mjs'
import { canPin, pinSelf } from './lib/processes.mjs'
import { probeConcurrent, runConcurrent } from './lib/concurrent.mjs'
import { SESSIONS_PER_CONNECTION, findScenario, login, loginMany, probe, supports } from './lib/scenarios.mjs'
import { startMemcached, startRedis } from './lib/stores.mjs'
import { runWrk } from './lib/wrk.mjs'
import { findServer, missingFiles } from './servers.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

const HELP = `Usage: node bench/profile.mjs [options]

  --only a,b          servers (default: ours-nacl,ours-encrypted)
  --scenarios a,b     scenarios (default: read,write,anon)
  --duration S        profiled seconds under load (default 5)
  --warmup S          warm-up seconds before profiling (default 2)
  --connections N     wrk connections (default 32)
  --writers N         concurrent scenario: requests at once on one session (default 16)
  --interval US       sampling interval in microseconds (default 200)
  --top N             functions listed per profile (default 20)
  --package DIR       profile the build in DIR/dist/esm (see run.mjs --package)
  --analyze FILE      only summarise an existing .cpuprofile (any number of times)`

const { values: options } = parseArgs({
  options: {
    only: { type: 'string', default: 'ours-nacl,ours-encrypted' },
    scenarios: { type: 'string', default: 'read,write,anon' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    writers: { type: 'string', default: '16' },
    interval: { type: 'string', default: '200' },
    top: { type: 'string', default: '20' },
    package: { type: 'string' },
    analyze: { type: 'string', multiple: true },
    help: { type: 'boolean', default: false }
  }
})

if (options.help) {
  console.log(HELP)
  process.exit(0)
}
if (options.package !== undefined) process.env.BENCH_PACKAGE_DIR = resolve(options.package) + '/'
const top = Number(options.top)

if (options.analyze !== undefined) {
  for (const file of options.analyze) console.log(profileMarkdown(file, analyze(JSON.parse(readFileSync(file, 'utf8'))), { top }))
  process.exit(0)
}

function log (text) {
  process.stderr.write(text + '\n')
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function main () {
  const entries = options.only.split(',').map((name) => findServer(name.trim()))
  const scenarios = options.scenarios.split(',').map((name) => findScenario(name.trim()))
  for (const entry of entries) {
    const missing = missingFiles(entry)
    if (missing !== undefined) throw new Error(`${entry.name}: ${missing} (run npm run build)`)
  }
  const pinned = cpus().length >= 2 && canPin()
  const serverCpus = pinned ? '1' : undefined
  const loadCpus = pinned ? '0' : undefined
  if (pinned) pinSelf(loadCpus)

  const stamp = new Date().toISOString().replace(/[:.]/g, '-')
  const dir = `${ROOT}bench/results/profiles/${stamp}`
  mkdirSync(dir, { recursive: true })
  const stores = {}
  const sections = [`Profiles of ${new Date().toISOString()}, ${options.duration} s under wrk load (1 thread × ${options.connections} connections) ` +
    `after ${options.warmup} s warm-up, sampling every ${options.interval} µs${pinned ? ', server pinned to CPU 1, wrk to CPU 0' : ''}.`, '']
  try {
    const kinds = new Set(entries.flatMap((entry) => entry.needs))
    if (kinds.has('redis')) stores.redis = await startRedis(loadCpus)
    if (kinds.has('memcached')) stores.memcached = await startMemcached(loadCpus)
    for (const entry of entries) {
      for (const scenario of scenarios.filter((candidate) => supports(entry, candidate))) {
        const file = `${dir}/${entry.name}-${scenario.name}.cpuprofile`
        const server = await launchServer(entry.name, {
          cpus: serverCpus,
          env: { ...storeEnv(stores), BENCH_PROFILE: file, BENCH_PROFILE_INTERVAL_US: options.interval }
        })
        let result
        try {
          const cookie = entry.cookie ?? await login(server.base)
          const connections = Number(options.connections)
          const cookies = !scenario.cookie ? undefined : scenario.spread && entry.cookie === undefined ? [cookie, ...await loginMany(server.base, SESSIONS_PER_CONNECTION * connections - 1)] : [cookie]
          // The concurrent driver runs in this process, pinned with wrk's cores (pinSelf).
          const generate = scenario.driver === 'concurrent'
            ? (seconds) => runConcurrent({ base: server.base, connections, writers: Number(options.writers), seconds })
            : (seconds) => runWrk({ url: server.url(scenario.path), cookies, connections, cpus: loadCpus, seconds })
          if (scenario.driver === 'concurrent') await probeConcurrent(server.base)
          else await probe(server.base, scenario, cookie, { checkBody: entry.name !== 'bare' })
          await generate(Number(options.warmup))
          server.signal('SIGUSR2')
          await sleep(100)
          result = await generate(Number(options.duration))
        } finally {
          await server.stop()
        }
        const analysis = analyze(JSON.parse(readFileSync(file, 'utf8')))
        log(`${entry.name} ${scenario.name}: ${Math.round(result.rps)} req/s while profiled; ${(analysis.oursShare * 100).toFixed(1)}% of busy time inside fastify-sessions`)
        sections.push(profileMarkdown(`${entry.name} / ${scenario.name} — ${Math.round(result.rps).toLocaleString('en-US')} req/s while profiled`, analysis, { top }))
      }
    }
  } finally {
    for (const store of Object.values(stores)) await store.stop()
  }
  const text = sections.join('\n')
  writeFileSync(`${dir}/summary.md`, text + '\n')
  console.log(text)
  log(`profiles and summary: ${dir}`)
}

main().catch((error) => {
  console.error(error.message ?? error)
  process.exit(1)
})
