/**
 * Real servers for the store tests: redis-server (alone, as a 3-node cluster, or as a
 * master and replica watched by Sentinels) and memcached, each on a free loopback port,
 * started by the test and stopped by PID in its teardown. A server can be stopped,
 * paused and started again on the same port mid-test, to play an outage.
 */
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
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

/** A master and its replica watched by Sentinels, as `startRedisSentinel` returns it. */
export interface RedisSentinelDeployment {
  /** The name the Sentinels know the master by: ioredis's `name` option. */
  readonly name: string
  readonly master: ServerProcess
  readonly replica: ServerProcess
  readonly sentinels: readonly ServerProcess[]
}

export interface RedisSentinelOptions {
  /** Sentinels to start (the quorum is a majority of them). Default 3. */
  sentinels?: number
  /**
   * How long the master must be unreachable before a Sentinel sees it down. Default
   * 1000 ms: a failover then takes longer than the storage's default timeout, so a request
   * sent when the master dies fails rather than waiting for the new one, and a loaded
   * machine does not make a Sentinel take a slow master for a dead one.
   */
  downAfterMilliseconds?: number
  /**
   * Sentinel's `failover-timeout`: a promotion not confirmed by then is abandoned, and a
   * failed election is retried after twice this. Default 5000 ms.
   */
  failoverTimeout?: number
}

/**
 * One parsed RESP value starting at `position` of `reply` (latin1 text, so characters are
 * bytes), with arrays flattened into their words (enough for Sentinel's field/value
 * replies), and where it ends; undefined while the reply is still incomplete.
 */
function parseResp (reply: string, position: number): { words: string[], end: number } | undefined {
  const lineEnd = reply.indexOf('\r\n', position)
  if (lineEnd === -1) return undefined
  const type = reply[position]
  const line = reply.slice(position + 1, lineEnd)
  if (type === '$') {
    const length = Number(line)
    if (length < 0) return { words: [], end: lineEnd + 2 }
    if (reply.length < lineEnd + 2 + length + 2) return undefined
    return { words: [reply.slice(lineEnd + 2, lineEnd + 2 + length)], end: lineEnd + 2 + length + 2 }
  }
  if (type === '*') {
    const words: string[] = []
    let end = lineEnd + 2
    for (let count = Number(line); count > 0; count--) {
      const element = parseResp(reply, end)
      if (element === undefined) return undefined
      words.push(...element.words)
      end = element.end
    }
    return { words, end }
  }
  return { words: [line], end: lineEnd + 2 }
}

/**
 * Sends one command to a Sentinel and returns the words of its reply. Sentinel has no
 * QUIT, so the connection is closed from this side once the reply is complete.
 */
async function sentinelCommand (port: number, command: string, timeout = 500): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let reply = ''
    const socket = connect(port, HOST)
    socket.setTimeout(timeout, () => socket.destroy(new Error(`no answer from ${HOST}:${port} within ${timeout} ms`)))
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1')
      const parsed = parseResp(reply, 0)
      if (parsed === undefined) return
      socket.destroy()
      resolve(parsed.words)
    })
    socket.once('error', reject)
    socket.write(command + '\r\n')
  })
}

/** The value after `field` in a flat field/value reply, or undefined. */
function fieldValue (words: readonly string[], field: string): string | undefined {
  const index = words.indexOf(field)
  return index === -1 ? undefined : words[index + 1]
}

/** `INFO replication` of a Redis server, as fields. */
export async function replicationInfo (port: number): Promise<Record<string, string>> {
  const info: Record<string, string> = {}
  for (const line of (await rawCommand(port, 'INFO replication\r\nQUIT\r\n', 500)).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) info[line.slice(0, colon)] = line.slice(colon + 1)
  }
  return info
}

/** The address a Sentinel gives for the master called `name` (what ioredis asks it). */
export async function sentinelMasterAddress (sentinelPort: number, name: string): Promise<string> {
  const words = await sentinelCommand(sentinelPort, `SENTINEL GET-MASTER-ADDR-BY-NAME ${name}`)
  return `${words[0]}:${words[1]}`
}

/**
 * True once this Sentinel is ready to fail over: it monitors a healthy master, has
 * found the replica through the master (with a working link to it) and the other
 * Sentinels through the master's hello channel. Before that, killing the master would
 * stall: a Sentinel that knows no replica has nothing to promote, and one that knows
 * no other Sentinel can reach neither the quorum nor a majority for the election.
 */
async function sentinelIsReady (port: number, name: string, otherSentinels: number): Promise<boolean> {
  const master = await sentinelCommand(port, `SENTINEL MASTER ${name}`)
  if (fieldValue(master, 'flags') !== 'master' || fieldValue(master, 'num-slaves') !== '1' ||
    fieldValue(master, 'num-other-sentinels') !== String(otherSentinels)) return false
  const replicas = await sentinelCommand(port, `SENTINEL REPLICAS ${name}`)
  return fieldValue(replicas, 'flags') === 'slave' && fieldValue(replicas, 'master-link-status') === 'ok'
}

/**
 * A Redis master, one replica and `sentinels` Sentinels (`redis-server --sentinel`), all
 * on free loopback ports, tuned to fail over within seconds; killed in teardown.
 * Resolves once every Sentinel could fail over (see `sentinelIsReady`).
 */
export async function startRedisSentinel (t: Teardown, options: RedisSentinelOptions = {}): Promise<RedisSentinelDeployment> {
  const { sentinels: count = 3, downAfterMilliseconds = 1000, failoverTimeout = 5000 } = options
  const name = 'sessions-master'
  const master = await startRedis(t)

  const replicaPort = await freePort()
  const replicaDirectory = await temporaryDirectory(t, 'replica')
  // The replica announces the loopback address, so the Sentinels (and through them
  // ioredis) are sent to 127.0.0.1 and not to whatever address the master saw.
  const replicaArgs = [...redisArgs(replicaPort, replicaDirectory), '--replicaof', HOST, String(master.port), '--replica-announce-ip', HOST]
  const replica = new ServerProcess(`redis replica on port ${replicaPort}`, replicaPort, 'redis-server', replicaArgs,
    async () => (await replicationInfo(replicaPort))['master_link_status'] === 'up')
  t.teardown(() => replica.stop())
  // Synchronised before the Sentinels start: they learn about replicas from the master's
  // INFO, which they ask for at once and then only every 10 s.
  await replica.start()

  const started: ServerProcess[] = []
  for (let index = 0; index < count; index++) {
    const port = await freePort()
    const directory = await temporaryDirectory(t, `sentinel-${index}`)
    // Sentinel insists on a configuration file it can rewrite (it records what it learns).
    const configuration = join(directory, 'sentinel.conf')
    await writeFile(configuration, [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${directory}`,
      'loglevel warning',
      `sentinel announce-ip ${HOST}`,
      `sentinel monitor ${name} ${HOST} ${master.port} ${Math.floor(count / 2) + 1}`,
      `sentinel down-after-milliseconds ${name} ${downAfterMilliseconds}`,
      `sentinel failover-timeout ${name} ${failoverTimeout}`,
      `sentinel parallel-syncs ${name} 1`,
      ''
    ].join('\n'))
    const sentinel = new ServerProcess(`redis sentinel on port ${port}`, port, 'redis-server', [configuration, '--sentinel'],
      async () => (await sentinelCommand(port, 'PING'))[0] === 'PONG')
    t.teardown(() => sentinel.stop())
    started.push(sentinel)
  }
  await Promise.all(started.map((sentinel) => sentinel.start()))
  // Sentinels announce themselves on the master every 2 s: discovery takes a few seconds.
  for (const sentinel of started) {
    await waitFor(`${sentinel.name} to see the replica and ${count - 1} other sentinels`, () => sentinelIsReady(sentinel.port, name, count - 1))
  }
  return { name, master, replica, sentinels: started }
}
