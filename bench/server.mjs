// One benchmark server: `node bench/server.mjs <name>` (names in bench/servers.mjs).
// Listens on a free loopback port and prints `BENCH_READY <port>` once it accepts
// requests. SIGTERM closes it. With BENCH_PROFILE=<file>, SIGUSR2 starts the V8 CPU
// profiler (the one behind `node --cpu-prof`) and SIGTERM writes the profile first, so
// the profile covers the measured load only, not start-up or warm-up.
import { writeFile } from 'node:fs/promises'
import { Session } from 'node:inspector/promises'
import Fastify from 'fastify'
import { addRoutes } from './routes.mjs'
import { findServer } from './servers.mjs'

const entry = findServer(process.argv[2] ?? '')
const app = Fastify({ logger: false })
const closeClients = await entry.register(app, process.env)
addRoutes(app, entry)
await app.listen({ host: '127.0.0.1', port: 0 })

const profileFile = process.env['BENCH_PROFILE']
const profiler = profileFile === undefined ? undefined : new Session()
let profiling = false
if (profiler !== undefined) {
  profiler.connect()
  await profiler.post('Profiler.enable')
  await profiler.post('Profiler.setSamplingInterval', { interval: Number(process.env['BENCH_PROFILE_INTERVAL_US'] ?? 200) })
  process.on('SIGUSR2', () => {
    profiling = true
    profiler.post('Profiler.start').catch((error) => { console.error(error) })
  })
}

let closing = false
process.on('SIGTERM', () => {
  if (closing) return
  closing = true
  shutdown().then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
})

async function shutdown () {
  if (profiler !== undefined && profileFile !== undefined && profiling) {
    const { profile } = await profiler.post('Profiler.stop')
    await writeFile(profileFile, JSON.stringify(profile))
  }
  await app.close()
  if (typeof closeClients === 'function') await closeClients()
}

const address = app.server.address()
process.stdout.write(`BENCH_READY ${typeof address === 'object' && address !== null ? address.port : ''}\n`)
