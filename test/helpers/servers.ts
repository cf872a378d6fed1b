/**
 * Real servers for the store tests: redis-server (alone or as a 3-node cluster) and
 * memcached, each on a free loopback port, started by the test and stopped by PID in
 * its teardown. A server can be stopped, paused and started again on the same port
 * mid-test, to play an outage.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Teardown } from './teardown.js'

const run = promisify(execFile)

const HOST = '127.0.0.1'
const START_TIMEOUT = 15000

/** Every child still running, killed if the test process exits without its teardown. */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** Ports this process has handed out, so two servers of one test never get the same. */
const handedOut = new Set<number>()

/** A port nobody listens on right now (the OS picks it). */
export async function freePort (): Promise<number> {
  for (;;) {
    const port = await unusedPort()
    if (!handedOut.has(port)) {
      handedOut.add(port)
      return port
    }
  }
}

async function unusedPort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, HOST, () => {
      const address = probe.address()
      probe.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })
}

/**
 * Sends raw protocol text and returns everything the server wrote until it closed the
 * connection (end the text with a `QUIT`/`quit` command), or fails after `timeout` ms.
 */
export async function rawCommand (port: number, text: string, timeout = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = connect(port, HOST)
    socket.setTimeout(timeout, () => socket.destroy(new Error(`no answer from ${HOST}:${port} within ${timeout} ms`)))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.once('error', reject)
    socket.once('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.write(text)
  })
}

async function delay (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Polls `check` until it returns true; a real server's start-up has no event to await. */
async function waitFor (what: string, check: () => Promise<boolean>, timeout = START_TIMEOUT): Promise<void> {
  const deadline = Date.now() + timeout
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (error) {
      last = error
    }
    await delay(25)
  }
  throw new Error(`${what} did not become ready within ${timeout} ms${last === undefined ? '' : `: ${String(last)}`}`)
}

/** One server process that can be stopped and started again on the same port. */
export class ServerProcess {
  readonly name: string
  readonly port: number
  readonly #command: string
  readonly #args: readonly string[]
  readonly #isReady: () => Promise<boolean>
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()

  constructor (name: string, port: number, command: string, args: readonly string[], isReady: () => Promise<boolean>) {
    this.name = name
    this.port = port
    this.#command = command
    this.#args = args
    this.#isReady = isReady
  }

  get pid (): number | undefined {
    return this.#child?.pid
  }

  get address (): string {
    return `${HOST}:${this.port}`
  }

  /** Starts the process and waits until it answers. */
  async start (): Promise<void> {
    if (this.#child !== undefined) throw new Error(`${this.name} is already running`)
    const child = spawn(this.#command, this.#args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    this.#child = child
    running.add(child)
    let failed: Error | undefined
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(child)
        if (this.#child === child) this.#child = undefined
        failed = new Error(`${this.name} exited (${signal ?? code}) ${stderr.trim()}`)
        resolve()
      })
      child.once('error', (error) => {
        running.delete(child)
        if (this.#child === child) this.#child = undefined
        failed = error
        resolve()
      })
    })
    await waitFor(this.name, async () => {
      if (failed !== undefined) throw failed
      return this.#isReady()
    })
  }

  /** Kills the process (a crash, as far as clients can tell) and waits until it is gone. */
  async stop (): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill('SIGKILL')
    await this.#exited
  }

  /**
   * Freezes the process: connections stay open but nothing answers (a hung server).
   * Resolves once the kernel reports it stopped: a signal is delivered asynchronously,
   * and a server still running for a moment would answer the next request.
   */
  async pause (): Promise<void> {
    const pid = this.#child?.pid
    if (pid === undefined) throw new Error(`${this.name} is not running`)
    process.kill(pid, 'SIGSTOP')
    await waitFor(`${this.name} to stop`, async () => processState(pid) === 'T', 5000)
  }

  resume (): void {
    this.#child?.kill('SIGCONT')
  }
}

/**
 * Stops a child process by its PID: SIGTERM, then SIGKILL if it has not exited within
 * 3 s; resolves once it has exited.
 */
export async function terminate (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  child.kill('SIGTERM')
  await exited
  clearTimeout(timer)
}

/** The state letter of a process in /proc (R running, S sleeping, T stopped…). */
function processState (pid: number): string | undefined {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  // The command name is in parentheses and may contain spaces: the state follows it.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
}

async function answersPing (port: number): Promise<boolean> {
  return (await rawCommand(port, 'PING\r\nQUIT\r\n', 500)).startsWith('+PONG')
}

async function temporaryDirectory (t: Teardown, name: string): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), `fastify-sessions-${name}-`))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  return directory
}

function redisArgs (port: number, directory: string): string[] {
  return ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--dir', directory, '--loglevel', 'warning']
}

/** A redis-server on a free loopback port, killed in teardown. */
export async function startRedis (t: Teardown): Promise<ServerProcess> {
  const port = await freePort()
  const directory = await temporaryDirectory(t, 'redis')
  const server = new ServerProcess(`redis-server on port ${port}`, port, 'redis-server', redisArgs(port, directory), () => answersPing(port))
  t.teardown(() => server.stop())
  await server.start()
  return server
}

/** A memcached on a free loopback port (TCP only), killed in teardown. */
export async function startMemcached (t: Teardown): Promise<ServerProcess> {
  const port = await freePort()
  // memcached refuses to run as root unless told which user to run as.
  const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : []
  const args = ['-l', HOST, '-p', String(port), '-U', '0', '-t', '1', '-m', '16', ...asRoot]
  const server = new ServerProcess(`memcached on port ${port}`, port, 'memcached', args, async () =>
    (await rawCommand(port, 'version\r\nquit\r\n', 500)).startsWith('VERSION'))
  t.teardown(() => server.stop())
  await server.start()
  return server
}

/** `cluster_state:ok`, as this node sees the cluster. */
async function clusterIsOk (port: number): Promise<boolean> {
  return (await rawCommand(port, 'CLUSTER INFO\r\nQUIT\r\n', 500)).includes('cluster_state:ok')
}

/**
 * A Redis Cluster of `size` masters (no replicas) on free loopback ports, each node
 * with its own directory and nodes.conf, its bus on a free port too; killed in teardown.
 */
export async function startRedisCluster (t: Teardown, size = 3): Promise<ServerProcess[]> {
  const nodes: ServerProcess[] = []
  for (let index = 0; index < size; index++) {
    const port = await freePort()
    const busPort = await freePort()
    const directory = await temporaryDirectory(t, `cluster-${index}`)
    const args = [...redisArgs(port, directory), '--cluster-enabled', 'yes', '--cluster-config-file', join(directory, 'nodes.conf'),
      '--cluster-port', String(busPort), '--cluster-node-timeout', '5000']
    const node = new ServerProcess(`cluster node on port ${port}`, port, 'redis-server', args, () => answersPing(port))
    t.teardown(() => node.stop())
    nodes.push(node)
  }
  await Promise.all(nodes.map((node) => node.start()))
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', '0', '--cluster-yes'])
  for (const node of nodes) await waitFor(`cluster state on ${node.address}`, () => clusterIsOk(node.port))
  return nodes
}

/** Memcached's `stats`, as numbers (the counters the tests look at). */
export async function memcachedStats (port: number): Promise<Record<string, number>> {
  const stats: Record<string, number> = {}
  for (const line of (await rawCommand(port, 'stats\r\nquit\r\n')).split('\r\n')) {
    const [tag, name, value] = line.split(' ')
    if (tag === 'STAT' && name !== undefined && value !== undefined) stats[name] = Number(value)
  }
  return stats
}
