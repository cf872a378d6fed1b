// Redis and Memcached for the store-backed servers: started by the runner on free
// loopback ports, pinned with the load generator (away from the measured server's
// core), and stopped by PID. Their command counters show how many store operations
// each request costs.
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { freePort, pinned, processCpuSeconds, startProcess, stop } from './processes.mjs'

/** Sends `payload` to 127.0.0.1:port and resolves with the reply once `complete(reply)`. */
function ask (port, payload, complete, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let reply = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no reply from port ${port}`))
    }, timeoutMs)
    socket.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    socket.on('data', (chunk) => {
      reply += chunk
      if (complete(reply)) {
        clearTimeout(timer)
        socket.end()
        resolve(reply)
      }
    })
    socket.write(payload)
  })
}

/** A RESP command (array of bulk strings). */
function resp (...words) {
  return `*${words.length}\r\n` + words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`).join('')
}

/** True once a RESP bulk-string reply (`$len\r\n…\r\n`) or a simple reply is complete. */
function respComplete (reply) {
  if (reply.startsWith('+') || reply.startsWith('-')) return reply.endsWith('\r\n')
  const header = /^\$(-?\d+)\r\n/.exec(reply)
  if (header === null) return false
  const length = Number(header[1])
  return length < 0 || Buffer.byteLength(reply) >= header[0].length + length + 2
}

export async function startRedis (cpus) {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const [command, args] = pinned(cpus, 'redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no',
    '--dir', dir, '--loglevel', 'warning', '--protected-mode', 'yes'
  ])
  const { child } = await startProcess(command, args, {
    name: 'redis-server',
    ready: async () => ((await ask(port, resp('PING'), respComplete).catch(() => '')).startsWith('+PONG') ? true : undefined)
  })
  return {
    kind: 'redis',
    port,
    pid: child.pid,
    cpuSeconds: () => processCpuSeconds(child.pid),
    /** Calls per command since start (`INFO commandstats`), e.g. `{ get: 10, set: 2 }`. */
    async counters () {
      const reply = await ask(port, resp('INFO', 'commandstats'), respComplete)
      const counts = {}
      for (const match of reply.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) counts[match[1]] = Number(match[2])
      delete counts.info
      return counts
    },
    async flush () {
      await ask(port, resp('FLUSHALL'), respComplete)
    },
    async stop () {
      await stop(child)
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export async function startMemcached (cpus) {
  const port = await freePort()
  const asRoot = process.getuid?.() === 0 ? ['-u', userInfo().username] : []
  const [command, args] = pinned(cpus, 'memcached', ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', '1', '-m', '64', ...asRoot])
  const version = () => ask(port, 'version\r\n', (reply) => reply.endsWith('\r\n'))
  const { child } = await startProcess(command, args, {
    name: 'memcached',
    ready: async () => ((await version().catch(() => '')).startsWith('VERSION') ? true : undefined)
  })
  return {
    kind: 'memcached',
    port,
    pid: child.pid,
    cpuSeconds: () => processCpuSeconds(child.pid),
    /** Operation counters since start (`stats`): get, set, touch, delete. */
    async counters () {
      const reply = await ask(port, 'stats\r\n', (text) => text.endsWith('END\r\n'))
      const stats = {}
      for (const match of reply.matchAll(/^STAT (\S+) (\S+)/gm)) stats[match[1]] = Number(match[2])
      return {
        get: stats.cmd_get,
        set: stats.cmd_set,
        touch: stats.cmd_touch,
        delete: (stats.delete_hits ?? 0) + (stats.delete_misses ?? 0)
      }
    },
    async flush () {
      await ask(port, 'flush_all\r\n', (reply) => reply.endsWith('\r\n'))
    },
    async stop () {
      await stop(child)
    }
  }
}

/** Per-request operations between two counter snapshots, leaving out zeros. */
export function opsPerRequest (before, after, requests) {
  const ops = {}
  for (const [name, count] of Object.entries(after)) {
    const delta = count - (before[name] ?? 0)
    if (delta > 0 && requests > 0) ops[name] = Math.round((delta / requests) * 1000) / 1000
  }
  return ops
}

/** Store commands that write (for the "no write on an unchanged session" check). */
export const WRITE_COMMANDS = new Set(['set', 'setex', 'psetex', 'hset', 'hmset', 'expire', 'pexpire', 'expireat', 'del', 'unlink', 'getex', 'touch', 'delete', 'gat'])
