/**
 * A TCP proxy of our own in front of a real server (memcached, redis-server), on a
 * free loopback port, that a test controls while clients talk through it: added
 * latency, a blackhole (connections stay open, nothing is forwarded: a network
 * partition), a connection cut in the middle of the next reply, replies trickled a
 * few bytes at a time, and healing. It also counts the commands clients send, by name,
 * for the two protocols our storages speak: Memcached's binary protocol and Redis's
 * RESP, and can run an action of the test's before it forwards a given command (another
 * client's write slipped in just before ours). Everything it opened is closed in the
 * test's teardown.
 */
import { Socket, createServer } from 'node:net'
import type { Server } from 'node:net'
import type { Teardown } from './teardown.js'

const HOST = '127.0.0.1'

/** Client → server is `request`, server → client is `reply`. */
export type Direction = 'request' | 'reply'
export type Directions = Direction | 'both'

function includes (directions: Directions, direction: Direction): boolean {
  return directions === 'both' || directions === direction
}

/** Memcached's binary opcodes by number, for the command counts. */
const MEMCACHED_OPCODES: ReadonlyMap<number, string> = new Map([
  [0x00, 'GET'], [0x01, 'SET'], [0x02, 'ADD'], [0x03, 'REPLACE'], [0x04, 'DELETE'], [0x05, 'INCREMENT'],
  [0x06, 'DECREMENT'], [0x07, 'QUIT'], [0x08, 'FLUSH'], [0x09, 'GETQ'], [0x0a, 'NOOP'], [0x0b, 'VERSION'],
  [0x0c, 'GETK'], [0x0d, 'GETKQ'], [0x0e, 'APPEND'], [0x0f, 'PREPEND'], [0x10, 'STAT'], [0x11, 'SETQ'],
  [0x12, 'ADDQ'], [0x13, 'REPLACEQ'], [0x14, 'DELETEQ'], [0x15, 'INCREMENTQ'], [0x16, 'DECREMENTQ'],
  [0x17, 'QUITQ'], [0x18, 'FLUSHQ'], [0x19, 'APPENDQ'], [0x1a, 'PREPENDQ'], [0x1c, 'TOUCH'], [0x1d, 'GAT'],
  [0x1e, 'GATQ'], [0x20, 'SASL_LIST_MECHS'], [0x21, 'SASL_AUTH'], [0x22, 'SASL_STEP']
])

const MEMCACHED_REQUEST_MAGIC = 0x80
const MEMCACHED_HEADER_BYTES = 24
const CRLF = Buffer.from('\r\n')

/**
 * Reads the commands out of one connection's request bytes, which arrive in chunks
 * that need not end on a command boundary. The protocol is told by the first byte:
 * 0x80 starts a Memcached binary request, `*` a RESP array, anything else an inline
 * (text) command line.
 */
class CommandReader {
  #pending: Buffer = Buffer.alloc(0)
  #count: (name: string) => void

  constructor (count: (name: string) => void) {
    this.#count = count
  }

  /** Reads a chunk; returns the names of the commands it completed. */
  push (chunk: Buffer): string[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const completed: string[] = []
    const count = this.#count
    this.#count = (name) => {
      completed.push(name)
      count(name)
    }
    try {
      for (;;) {
        const taken = this.#next()
        if (taken === 0) return completed
        this.#pending = this.#pending.subarray(taken)
      }
    } finally {
      this.#count = count
    }
  }

  /** Counts the first complete command and returns its length, or 0 while it is incomplete. */
  #next (): number {
    const bytes = this.#pending
    if (bytes.length === 0) return 0
    if (bytes[0] === MEMCACHED_REQUEST_MAGIC) {
      if (bytes.length < MEMCACHED_HEADER_BYTES) return 0
      const length = MEMCACHED_HEADER_BYTES + bytes.readUInt32BE(8)
      if (bytes.length < length) return 0
      const opcode = bytes.readUInt8(1)
      this.#count(MEMCACHED_OPCODES.get(opcode) ?? `0x${opcode.toString(16).padStart(2, '0')}`)
      return length
    }
    if (bytes[0] === 0x2a) return this.#respArray(bytes)
    const end = bytes.indexOf(CRLF)
    if (end === -1) return 0
    const name = bytes.subarray(0, end).toString('latin1').trim().split(/\s+/)[0]
    if (name !== undefined && name !== '') this.#count(name.toUpperCase())
    return end + 2
  }

  /** `*<n>\r\n` then n bulk strings `$<len>\r\n<bytes>\r\n`; the command is the first. */
  #respArray (bytes: Buffer): number {
    let end = bytes.indexOf(CRLF)
    if (end === -1) return 0
    const count = Number(bytes.subarray(1, end).toString('latin1'))
    let offset = end + 2
    let name: string | undefined
    for (let index = 0; index < count; index++) {
      end = bytes.indexOf(CRLF, offset)
      if (end === -1) return 0
      const length = Number(bytes.subarray(offset + 1, end).toString('latin1'))
      const start = end + 2
      if (bytes.length < start + length + 2) return 0
      if (index === 0) name = bytes.subarray(start, start + length).toString('latin1').toUpperCase()
      offset = start + length + 2
    }
    if (name !== undefined) this.#count(name)
    return offset
  }
}

interface CutPlan {
  /** Reply bytes still forwarded before the connection is cut. */
  remaining: number
  done: () => void
}

/**
 * One direction of one proxied connection: chunks are queued in arrival order and
 * forwarded by a single pump, which applies the proxy's current faults to each.
 */
class Pipe {
  readonly #direction: Direction
  readonly #target: Socket
  readonly #proxy: FaultProxy
  readonly #connection: Connection
  readonly #queue: Array<{ chunk: Buffer, arrived: number, before: (() => Promise<void>) | undefined }> = []
  #pumping = false

  constructor (direction: Direction, target: Socket, proxy: FaultProxy, connection: Connection) {
    this.#direction = direction
    this.#target = target
    this.#proxy = proxy
    this.#connection = connection
  }

  /** Queues a chunk; `before`, if given, runs (and is awaited) just before it is forwarded. */
  push (chunk: Buffer, before?: () => Promise<void>): void {
    this.#queue.push({ chunk, arrived: performance.now(), before })
    // A pump that failed (it should not) ends the connection rather than stalling it.
    if (!this.#pumping) this.#pump().catch(() => { this.#connection.close() })
  }

  async #pump (): Promise<void> {
    this.#pumping = true
    try {
      for (;;) {
        const next = this.#queue[0]
        if (next === undefined || this.#connection.closed) return
        // A blackhole holds the bytes, as a partition does; TCP would deliver them
        // once the network heals, so they are forwarded after heal().
        if (this.#proxy.holds(this.#direction)) {
          await this.#proxy.healed()
          continue
        }
        const due = next.arrived + this.#proxy.latencyOf(this.#direction)
        if (due > performance.now()) {
          await this.#connection.sleep(due - performance.now())
          continue
        }
        this.#queue.shift()
        if (next.before !== undefined) await next.before()
        await this.#forward(next.chunk)
      }
    } finally {
      this.#pumping = false
    }
  }

  async #forward (chunk: Buffer): Promise<void> {
    let rest = chunk
    while (rest.length > 0 && !this.#connection.closed) {
      const trickle = this.#proxy.trickleOf(this.#direction)
      const piece = trickle === undefined ? rest : rest.subarray(0, trickle.bytes)
      rest = rest.subarray(piece.length)
      const cut = this.#direction === 'reply' ? this.#proxy.takeCut() : undefined
      if (cut !== undefined && piece.length >= cut.remaining) {
        this.#connection.cut(piece.subarray(0, cut.remaining))
        cut.done()
        return
      }
      if (cut !== undefined) {
        cut.remaining -= piece.length
        this.#proxy.putBackCut(cut)
      }
      this.#target.write(piece)
      if (trickle !== undefined && rest.length > 0) await this.#connection.sleep(trickle.interval)
    }
  }
}

/** One client connection and its connection to the server. */
class Connection {
  readonly client: Socket
  readonly server: Socket
  /** Set once the pipes exist. */
  replies: Pipe | undefined
  closed = false
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #wakers = new Set<() => void>()
  readonly #onClose: () => void

  constructor (client: Socket, server: Socket, onClose: () => void) {
    this.client = client
    this.server = server
    this.#onClose = onClose
  }

  /** Waits `ms`, or less if the connection closes meanwhile. */
  async sleep (ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer)
        this.#timers.delete(timer)
        this.#wakers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#timers.add(timer)
      this.#wakers.add(wake)
    })
  }

  /** Wakes every sleeping pump early, to look at the faults again. */
  wake (): void {
    for (const wake of [...this.#wakers]) wake()
  }

  /**
   * Sends the last bytes of a reply cut short and closes the connection: the client
   * reads them, then the end of the stream (a FIN, as when a server dies mid-write).
   */
  cut (last: Buffer): void {
    this.#end(() => { this.client.end(last) })
  }

  /** Closes both sides at once. */
  close (): void {
    this.#end(() => { this.client.destroy() })
  }

  #end (closeClient: () => void): void {
    if (this.closed) return
    this.closed = true
    closeClient()
    this.server.destroy()
    this.wake()
    this.#onClose()
  }
}

export interface Trickle {
  /** Bytes forwarded at a time. */
  bytes: number
  /** Milliseconds between two of them. */
  interval: number
}

/** A fault-injecting, command-counting TCP proxy; see the top of this file. */
export class FaultProxy {
  readonly port: number
  readonly #targetPort: number
  readonly #server: Server
  readonly #connections = new Set<Connection>()
  /** Every socket not yet closed, including a cut one whose client has not read the end yet. */
  readonly #sockets = new Set<Socket>()
  readonly #commands = new Map<string, number>()
  #latency: Record<Direction, number> = { request: 0, reply: 0 }
  #held: Record<Direction, boolean> = { request: false, reply: false }
  #trickle: Partial<Record<Direction, Trickle>> = {}
  #cut: CutPlan | undefined
  #interception: { names: ReadonlySet<string>, action: (command: string) => Promise<void> } | undefined
  #healWaiters: Array<() => void> = []
  #accepted = 0

  private constructor (server: Server, port: number, targetPort: number) {
    this.#server = server
    this.port = port
    this.#targetPort = targetPort
    server.on('connection', (client) => { this.#accept(client) })
  }

  /** A proxy on a free loopback port in front of `127.0.0.1:targetPort`, closed in teardown. */
  static async start (t: Teardown, targetPort: number): Promise<FaultProxy> {
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, HOST, resolve)
    })
    const address = server.address()
    if (typeof address !== 'object' || address === null) throw new Error('the proxy has no port')
    const proxy = new FaultProxy(server, address.port, targetPort)
    t.teardown(() => proxy.close())
    return proxy
  }

  /** `host:port` for clients (`memjs.Client.create(proxy.address)`). */
  get address (): string {
    return `${HOST}:${this.port}`
  }

  /** Client connections open right now. */
  get openConnections (): number {
    return this.#connections.size
  }

  /** Client connections accepted since the start. */
  get acceptedConnections (): number {
    return this.#accepted
  }

  /** Commands sent by clients since the start or the last `resetCommands()`, by name (GET, SET, EVALSHA…). */
  commands (): Record<string, number> {
    return Object.fromEntries([...this.#commands].sort(([a], [b]) => a.localeCompare(b)))
  }

  resetCommands (): void {
    this.#commands.clear()
  }

  /**
   * Runs `action` (awaited) before forwarding each request chunk that completes one of the
   * commands `names` (EVALSHA, REPLACE…): a write of another client's, made in the action,
   * lands just before the command does; the action is told which command it is. Undefined
   * stops it.
   */
  beforeCommands (names: readonly string[], action: ((command: string) => Promise<void>) | undefined): void {
    this.#interception = action === undefined ? undefined : { names: new Set(names), action }
  }

  /** Delays every chunk by `ms` in the given direction(s), keeping their order. */
  latency (ms: number, directions: Directions = 'both'): void {
    for (const direction of ['request', 'reply'] as const) {
      if (includes(directions, direction)) this.#latency[direction] = ms
    }
    this.#wakeAll()
  }

  /** Forwards nothing in the given direction(s) until `heal()`; connections stay open. */
  blackhole (directions: Directions = 'both'): void {
    for (const direction of ['request', 'reply'] as const) {
      if (includes(directions, direction)) this.#held[direction] = true
    }
  }

  /** Forwards `bytes` at a time with `interval` ms between, in the given direction(s). */
  trickle (trickle: Trickle, directions: Directions = 'reply'): void {
    for (const direction of ['request', 'reply'] as const) {
      if (includes(directions, direction)) this.#trickle[direction] = trickle
    }
  }

  /**
   * Cuts the connection that next receives reply bytes after forwarding `afterBytes`
   * of them: the client gets the start of a reply, then the end of the stream.
   * Resolves once the cut happened.
   */
  async cutNextReply (afterBytes: number): Promise<void> {
    if (this.#cut !== undefined) throw new Error('a cut is already armed')
    return new Promise((resolve) => {
      this.#cut = { remaining: afterBytes, done: resolve }
    })
  }

  /** Back to a plain pass-through; bytes held by a blackhole are forwarded now, in order. */
  heal (): void {
    this.#latency = { request: 0, reply: 0 }
    this.#held = { request: false, reply: false }
    this.#trickle = {}
    const waiters = this.#healWaiters
    this.#healWaiters = []
    for (const wake of waiters) wake()
    this.#wakeAll()
  }

  /**
   * Sends `bytes` to the client of the one open connection as if the server had sent
   * them, in order with the server's own replies (a forged or misplaced reply).
   */
  injectReply (bytes: Buffer): void {
    const [connection, ...others] = this.#connections
    if (connection === undefined || others.length > 0) throw new Error(`injectReply needs exactly one open connection; there are ${this.#connections.size}`)
    connection.replies!.push(bytes)
  }

  /** Closes every connection (both sides, at once). */
  dropConnections (): void {
    for (const connection of [...this.#connections]) connection.close()
  }

  async close (): Promise<void> {
    this.dropConnections()
    for (const socket of this.#sockets) socket.destroy()
    this.heal()
    await new Promise<void>((resolve) => this.#server.close(() => { resolve() }))
  }

  /** @internal for the pipes */
  holds (direction: Direction): boolean {
    return this.#held[direction]
  }

  /** @internal */
  async healed (): Promise<void> {
    return new Promise((resolve) => this.#healWaiters.push(resolve))
  }

  /** @internal */
  latencyOf (direction: Direction): number {
    return this.#latency[direction]
  }

  /** @internal */
  trickleOf (direction: Direction): Trickle | undefined {
    return this.#trickle[direction]
  }

  /** @internal the armed cut, taken by the pipe that forwards reply bytes next */
  takeCut (): CutPlan | undefined {
    const cut = this.#cut
    this.#cut = undefined
    return cut
  }

  /** @internal a cut whose byte budget is not used up yet */
  putBackCut (cut: CutPlan): void {
    this.#cut = cut
  }

  /** Latency changes apply to chunks already waiting: wake their pumps to look again. */
  #wakeAll (): void {
    for (const connection of this.#connections) connection.wake()
  }

  #accept (client: Socket): void {
    this.#accepted++
    const server = new Socket()
    for (const socket of [client, server]) {
      this.#sockets.add(socket)
      socket.once('close', () => { this.#sockets.delete(socket) })
    }
    const connection = new Connection(client, server, () => { this.#connections.delete(connection) })
    this.#connections.add(connection)
    const reader = new CommandReader((name) => { this.#commands.set(name, (this.#commands.get(name) ?? 0) + 1) })
    const requests = new Pipe('request', server, this, connection)
    const replies = new Pipe('reply', client, this, connection)
    connection.replies = replies
    client.on('data', (chunk: Buffer) => {
      const completed = reader.push(chunk)
      const interception = this.#interception
      const intercepted = interception === undefined ? undefined : completed.find((name) => interception.names.has(name))
      requests.push(chunk, interception === undefined || intercepted === undefined ? undefined : async () => { await interception.action(intercepted) })
    })
    server.on('data', (chunk: Buffer) => { replies.push(chunk) })
    // Either side closing or failing ends the whole connection, as a real one would.
    for (const socket of [client, server]) {
      socket.on('error', () => { connection.close() })
      socket.on('close', () => { connection.close() })
    }
    server.connect(this.#targetPort, HOST)
  }
}
