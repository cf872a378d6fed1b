// Starts one benchmark server (bench/server.mjs) as its own process, pinned to the
// server's cores, and waits until it listens.
import { fileURLToPath } from 'node:url'
import { pinned, processCpuSeconds, startProcess, stop } from './processes.mjs'

const SERVER = fileURLToPath(new URL('../server.mjs', import.meta.url))

/** Environment a server needs to reach the stores the runner started. */
export function storeEnv (stores) {
  const env = {}
  if (stores.redis !== undefined) env.BENCH_REDIS_PORT = String(stores.redis.port)
  if (stores.memcached !== undefined) env.BENCH_MEMCACHED_PORT = String(stores.memcached.port)
  return env
}

export async function launchServer (name, { cpus, env = {}, nodeArgs = [] }) {
  const [command, args] = pinned(cpus, process.execPath, [...nodeArgs, SERVER, name])
  const { child, value: port, output } = await startProcess(command, args, {
    name: `server ${name}`,
    // NODE_ENV=production, as in a deployment (some libraries check it).
    env: { ...process.env, NODE_ENV: 'production', ...env },
    ready: (stdout) => /BENCH_READY (\d+)/.exec(stdout)?.[1]
  })
  return {
    pid: child.pid,
    base: `http://127.0.0.1:${port}`,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    cpuSeconds: () => processCpuSeconds(child.pid),
    signal: (signal) => child.kill(signal),
    output,
    stop: () => stop(child, 10000)
  }
}
