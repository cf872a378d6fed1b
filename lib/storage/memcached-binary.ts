/**
 * Memcached's binary protocol with compare-and-set, spoken over the connections of the
 * application's own memjs client, and a connection that wedges is reset instead of
 * being used forever.
 *
 * Why not memjs's `get`/`set`: they hide the 8-byte CAS value that every binary reply
 * carries (offset 16 of the header), and without it a write cannot be made conditional
 * on the record being the one we read. memjs 1.3 exports what is needed underneath:
 * `client.server(key)` (its own choice of server for a key), `client.incrSeq()`/`seq`
 * (request numbers, the `opaque` field), and per server `sock` (the connection, opened or
 * awaited as needed), `onResponse`/`onError` (the handlers of one request's reply, routed
 * by its opaque) and `error` (fail everything pending and drop the socket).
 *
 * Requests are written on the socket `sock` gives rather than with memjs's `write`, whose
 * own timer (its `timeout` option, 0.5 s by default) would fail them before the bound
 * this layer is given: the layer's `timeout` is the one that applies.
 *
 * Why the resets: memjs appends every byte a server sends to one per-server buffer and
 * never empties it when a connection dies. A reply cut half-way (a dropped connection,
 * a server killed mid-write) stays at the front of that buffer, and every reply on the
 * next connection is parsed behind it: garbage, forever, until the process restarts
 * (memcachier/memjs#89, #117). So an operation that times out, fails, or gets a reply
 * that is not the answer to what it asked resets its server's connection: everything
 * pending on it fails at once, the buffer is emptied, the socket is closed, and the next
 * operation connects afresh. memjs hands each reply to the handler of its opaque (a
 * request number unique on the client); the magic, the opcode and, for reads, the key
 * itself are checked here too, so that a reply is never taken for the answer to a
 * request it does not answer.
 *
 * Nothing here knows about Fastify or sessions; nothing of memjs is imported (the client
 * is the application's, and memjs stays an optional peer dependency).
 */
import type { Socket } from 'node:net'

/** The parts of a memjs 1.x `Server` used here (see memjs/lib/memjs/server.js). */
export interface MemjsServer {
  host: string
  port: number
  /** Bytes received and not yet parsed into replies; shared by every connection this server object makes. */
  responseBuffer: Buffer
  /** The current connection; memjs opens a new one on the next write when there is none. */
  _socket?: Socket | undefined
  /**
   * memjs's deadlines of the requests sent and not yet answered, oldest first: one entry
   * per request, and each reply removes one.
   */
  requestTimeouts: number[]
  /** Calls `go` with the connection once it is open (and authenticated), opening it if there is none. */
  sock (sasl: boolean, go: (socket: Socket) => void): void
  onResponse (opaque: number, handler: (reply: MemjsReply) => void): void
  onError (opaque: number, handler: (error: unknown) => void): void
  error (error: Error): void
}

/** The parts of a memjs 1.x `Client` used here. */
export interface MemjsClient {
  readonly servers: readonly MemjsServer[]
  readonly seq: number
  /** memjs's choice of server for a key (its hashing, `getServer` override and failover), or none. */
  server (key: string): MemjsServer | null | undefined
  incrSeq (): void
}

/** A reply as memjs parses it. */
export interface MemjsReply {
  header: { magic: number, opcode: number, status: number, opaque: number, cas: Buffer }
  key: Buffer
  extras: Buffer
  val: Buffer
}

/**
 * The version memcached gives an item: it changes on every write, by any client (so a
 * record Python's aiomcache rewrote in between is detected). 0 means "no version":
 * memcached started with `-C` keeps none.
 */
export type MemcachedCas = bigint

export interface MemcachedItem {
  value: Buffer
  cas: MemcachedCas
}

export type AddOutcome = 'stored' | 'exists'
export type CompareAndSetOutcome = 'stored' | 'changed' | 'missing'

export interface MemcachedBinaryOptions {
  /** Milliseconds an operation may take, connecting included; then its server's connection is reset. */
  timeout: number
}

/** What went wrong talking to memcached; the message may name the server (host:port), never a key or value. */
export class MemcachedError extends Error {
  override get name (): string {
    return this.constructor.name
  }
}

/** No answer within the layer's timeout. */
export class MemcachedTimeoutError extends MemcachedError {}

/** The connection failed, closed, or was reset while the operation waited on it. */
export class MemcachedConnectionError extends MemcachedError {}

/** A reply that is not the answer to the request (a desynchronised stream). */
export class MemcachedProtocolError extends MemcachedError {}

/** Memcached answered with an error status. */
export class MemcachedStatusError extends MemcachedError {
  readonly status: number

  constructor (message: string, status: number) {
    super(message)
    this.status = status
  }
}

/**
 * The value is over the server's item size limit (`-I`, 1 MB by default, which includes
 * the key and about 50 bytes of item header). Memcached's reply does not say the limit.
 */
export class MemcachedTooLargeError extends MemcachedStatusError {
  /** Bytes of the value that was refused. */
  readonly size: number

  constructor (message: string, size: number) {
    super(message, STATUS.TOO_LARGE)
    this.size = size
  }
}

const REQUEST_MAGIC = 0x80
const REPLY_MAGIC = 0x81
const HEADER_BYTES = 24

const OPCODE = { SET: 0x01, ADD: 0x02, REPLACE: 0x03, DELETE: 0x04, GETK: 0x0c } as const
const OPCODE_NAMES: Readonly<Record<number, string>> = { 0x01: 'SET', 0x02: 'ADD', 0x03: 'REPLACE', 0x04: 'DELETE', 0x0c: 'GETK' }

const STATUS = { OK: 0x0000, NOT_FOUND: 0x0001, EXISTS: 0x0002, TOO_LARGE: 0x0003 } as const
const STATUS_NAMES: Readonly<Record<number, string>> = {
  0x0004: 'invalid arguments',
  0x0005: 'item not stored',
  0x0006: 'non-numeric value',
  0x0007: 'wrong vbucket',
  0x0008: 'authentication error',
  0x0081: 'unknown command',
  0x0082: 'out of memory',
  0x0083: 'not supported',
  0x0084: 'internal error',
  0x0085: 'busy',
  0x0086: 'temporary failure'
}

const NO_BYTES = Buffer.alloc(0)

/** Flags (always 0, as aiohttp-session's aiomcache writes) and exptime: the extras of SET and ADD. */
function storeExtras (exptime: number): Buffer {
  const extras = Buffer.alloc(8)
  extras.writeUInt32BE(exptime, 4)
  return extras
}

/** A binary request: the 24-byte header, then extras, key and value. */
function encodeRequest (opcode: number, opaque: number, key: Buffer, extras: Buffer, value: Buffer, cas: MemcachedCas): Buffer {
  const request = Buffer.alloc(HEADER_BYTES + extras.length + key.length + value.length)
  request.writeUInt8(REQUEST_MAGIC, 0)
  request.writeUInt8(opcode, 1)
  request.writeUInt16BE(key.length, 2)
  request.writeUInt8(extras.length, 4)
  request.writeUInt32BE(extras.length + key.length + value.length, 8)
  request.writeUInt32BE(opaque, 12)
  request.writeBigUInt64BE(cas, 16)
  extras.copy(request, HEADER_BYTES)
  key.copy(request, HEADER_BYTES + extras.length)
  value.copy(request, HEADER_BYTES + extras.length + key.length)
  return request
}

/** What the layer keeps per memjs server object (shared by every layer over one client). */
interface ServerState {
  /** Sockets our requests went out on, until they have closed. */
  readonly sockets: Map<Socket, Promise<void>>
}

const states = new WeakMap<MemjsServer, ServerState>()

function stateOf (server: MemjsServer): ServerState {
  let state = states.get(server)
  if (state === undefined) {
    state = { sockets: new Map() }
    states.set(server, state)
  }
  return state
}

function describeServer (server: MemjsServer): string {
  return `${server.host}:${server.port}`
}

interface Request {
  opcode: number
  key: Buffer
  extras: Buffer
  value: Buffer
  cas: MemcachedCas
}

/** Memcached's binary protocol over a memjs client's connections; see the top of this file. */
export class MemcachedBinaryClient {
  readonly #client: MemjsClient
  readonly #timeout: number

  constructor (client: MemjsClient, options: MemcachedBinaryOptions) {
    this.#client = client
    this.#timeout = options.timeout
  }

  /** The item under `key` and its CAS, or null when there is none. */
  async get (key: string): Promise<MemcachedItem | null> {
    // GETK rather than GET: the reply carries the key, so a reply for another key is
    // caught even if everything else in its header happened to match.
    const request = { opcode: OPCODE.GETK, key: Buffer.from(key), extras: NO_BYTES, value: NO_BYTES, cas: 0n }
    const reply = await this.#perform(key, request)
    if (expectStatus(reply, request, [STATUS.OK, STATUS.NOT_FOUND]) === STATUS.NOT_FOUND) return null
    return { value: Buffer.from(reply.val), cas: reply.header.cas.readBigUInt64BE(0) }
  }

  /**
   * Stores `value` whatever is there. Like every memcached SET, one refused as too large
   * also deletes what the key held.
   */
  async set (key: string, value: string | Buffer, exptime: number): Promise<void> {
    const request = storeRequest(OPCODE.SET, key, value, exptime, 0n)
    expectStatus(await this.#perform(key, request), request, [STATUS.OK])
  }

  /** Stores `value` only if there is no item under `key` (a new session id). */
  async add (key: string, value: string | Buffer, exptime: number): Promise<AddOutcome> {
    const request = storeRequest(OPCODE.ADD, key, value, exptime, 0n)
    return expectStatus(await this.#perform(key, request), request, [STATUS.OK, STATUS.EXISTS]) === STATUS.OK ? 'stored' : 'exists'
  }

  /**
   * Stores `value` only if the item still has the CAS `cas` (read by `get`): 'changed'
   * when someone wrote it since, 'missing' when it was deleted or expired since.
   * A REPLACE rather than a SET: memcached deletes the item when it refuses a SET as too
   * large, whatever its CAS, and keeps it when it refuses a REPLACE.
   */
  async compareAndSet (key: string, value: string | Buffer, exptime: number, cas: MemcachedCas): Promise<CompareAndSetOutcome> {
    const request = storeRequest(OPCODE.REPLACE, key, value, exptime, checkCas(cas))
    return conditionalOutcome(expectStatus(await this.#perform(key, request), request, CONDITIONAL_STATUSES), 'stored')
  }

  /** Deletes the item; false when there was none. */
  async delete (key: string): Promise<boolean> {
    const request = { opcode: OPCODE.DELETE, key: Buffer.from(key), extras: NO_BYTES, value: NO_BYTES, cas: 0n }
    return expectStatus(await this.#perform(key, request), request, [STATUS.OK, STATUS.NOT_FOUND]) === STATUS.OK
  }

  /**
   * Sends one request to the server memjs picks for `key` and resolves with its reply,
   * or rejects within the timeout. A timeout or a mismatching reply resets that server's
   * connection (see the top of this file).
   */
  async #perform (key: string, request: Request): Promise<MemjsReply> {
    const server = this.#client.server(key)
    if (server === null || server === undefined) throw new MemcachedConnectionError('no memcached server is available (all are marked failed)')
    const deadline = performance.now() + this.#timeout
    const state = stateOf(server)
    await settleAbandonedSockets(server, state)
    return this.#exchange(server, state, request, deadline - performance.now())
  }

  async #exchange (server: MemjsServer, state: ServerState, request: Request, timeout: number): Promise<MemjsReply> {
    this.#client.incrSeq()
    // memjs wraps its counter to a signed 32-bit number; the header field is unsigned.
    const opaque = this.#client.seq >>> 0
    const bytes = encodeRequest(request.opcode, opaque, request.key, request.extras, request.value, request.cas)
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        const error = new MemcachedTimeoutError(`memcached at ${describeServer(server)} did not answer within ${this.#timeout} ms`)
        reject(error)
        resetConnection(server, new MemcachedConnectionError(`the connection to memcached at ${describeServer(server)} was reset: ` +
          `an operation on it timed out (${this.#timeout} ms)`, { cause: error }))
      }, Math.max(0, timeout))
      // A timer alone must not keep a process alive.
      timer.unref()
      // memjs routes each reply to the handler registered for its opaque, and drops the
      // handler when the connection fails or is reset: a reply only gets here unsettled.
      server.onResponse(opaque, (reply) => {
        settled = true
        clearTimeout(timer)
        const mismatch = replyMismatch(reply, request)
        if (mismatch === undefined) {
          resolve(reply)
          return
        }
        const error = new MemcachedProtocolError(`memcached at ${describeServer(server)} sent a reply that does not answer the request (${mismatch})`)
        reject(error)
        // At once, inside memjs's parsing loop: the bytes behind this reply are as
        // suspect as it is, and must not be parsed and dispatched to other requests.
        resetConnection(server, new MemcachedConnectionError(`the connection to memcached at ${describeServer(server)} was reset: ` +
          'it sent a reply that does not answer its request', { cause: error }))
      })
      server.onError(opaque, (cause) => {
        // Our own reset after this request timed out or got a wrong reply lands here too.
        if (settled) return
        settled = true
        clearTimeout(timer)
        // memjs has given up the socket before calling this; what it left in the shared
        // buffer belongs to that dead connection and must not prefix the next one.
        server.responseBuffer = NO_BYTES
        reject(cause instanceof MemcachedConnectionError
          ? cause
          : new MemcachedConnectionError(`the connection to memcached at ${describeServer(server)} failed`, { cause }))
      })
      const deadline = memjsTimestamp() + timeout
      server.sock(false, (socket) => {
        socket.write(bytes)
        // One entry per request, as memjs's own write adds: each reply takes one off.
        server.requestTimeouts.push(deadline)
      })
      // memjs opens the socket synchronously in sock() when it has none.
      track(server, state, server._socket!)
    })
  }
}

function storeRequest (opcode: number, key: string, value: string | Buffer, exptime: number, cas: MemcachedCas): Request {
  return { opcode, key: Buffer.from(key), extras: storeExtras(exptime), value: typeof value === 'string' ? Buffer.from(value, 'utf8') : value, cas }
}

const CONDITIONAL_STATUSES = [STATUS.OK, STATUS.EXISTS, STATUS.NOT_FOUND]

/** The reply's status if it is one of `expected`; otherwise the error it stands for. */
function expectStatus (reply: MemjsReply, request: Request, expected: readonly number[]): number {
  const status = reply.header.status
  if (expected.includes(status)) return status
  const operation = OPCODE_NAMES[request.opcode]
  if (status === STATUS.TOO_LARGE) {
    // Its own error: the storage must tell the session's size apart from an outage.
    throw new MemcachedTooLargeError(`memcached refused the ${operation} of a ${request.value.length}-byte value: ` +
      'it is over the server\'s item size limit', request.value.length)
  }
  const name = STATUS_NAMES[status] ?? 'unknown status'
  throw new MemcachedStatusError(`memcached answered the ${operation} with status 0x${status.toString(16).padStart(4, '0')} (${name})`, status)
}

/** memjs's clock for deadlines (its `utils.timestamp`): monotonic milliseconds. */
function memjsTimestamp (): number {
  const [seconds, nanoseconds] = process.hrtime()
  return seconds * 1000 + Math.round(nanoseconds / 1e6)
}

/** A CAS of 0 would make memcached store unconditionally: it must never reach the server. */
function checkCas (cas: MemcachedCas): MemcachedCas {
  if (cas <= 0n || cas > 0xffffffffffffffffn) {
    throw new RangeError('a compare-and-set needs the non-zero 64-bit CAS read by get() (memcached started with -C keeps none)')
  }
  return cas
}

function conditionalOutcome<T extends 'stored'> (status: number, done: T): T | 'changed' | 'missing' {
  if (status === STATUS.OK) return done
  return status === STATUS.EXISTS ? 'changed' : 'missing'
}

/** Why `reply` is not the answer to `request`, or undefined when it is. */
function replyMismatch (reply: MemjsReply, request: Request): string | undefined {
  const header = reply.header
  // The opaque needs no check here: memjs only hands a reply to the handler of its opaque.
  if (header.magic !== REPLY_MAGIC) return `magic 0x${header.magic.toString(16)}`
  if (header.opcode !== request.opcode) return `opcode 0x${header.opcode.toString(16)} for 0x${request.opcode.toString(16)}`
  if (request.opcode === OPCODE.GETK && (header.status === STATUS.OK || header.status === STATUS.NOT_FOUND)) {
    if (!reply.key.equals(request.key)) return 'another key'
    // A hit carries the 4-byte flags; anything else means the lengths were misread.
    if (header.status === STATUS.OK && reply.extras.length !== 4) return `${reply.extras.length} bytes of extras`
  }
  return undefined
}

/**
 * Remembers the socket a request went out on. When it closes while memjs has no other
 * socket for this server, whatever is still pending on it can never be answered: fail
 * it now rather than at its timeout, and drop any half reply it left behind.
 */
function track (server: MemjsServer, state: ServerState, socket: Socket): void {
  if (state.sockets.has(socket)) return
  state.sockets.set(socket, new Promise((resolve) => {
    socket.once('close', () => {
      state.sockets.delete(socket)
      if (server._socket === undefined) {
        resetConnection(server, new MemcachedConnectionError(`the connection to memcached at ${describeServer(server)} closed ` +
          'before the reply was complete'))
      }
      resolve()
    })
  }))
}

/**
 * Before a request goes out: sockets of this server that memjs no longer uses but that
 * are still open (memjs's own timeout only half-closes them; ours are closing) could
 * still deliver bytes into the shared buffer, and their late 'close' would make memjs
 * forget its current socket. Close them and wait until they are gone; then, if memjs has
 * no connection, nothing pending can be answered any more, and stale bytes go too.
 */
async function settleAbandonedSockets (server: MemjsServer, state: ServerState): Promise<void> {
  let closing: Array<Promise<void>> | undefined
  for (const [socket, closed] of state.sockets) {
    if (socket === server._socket) continue
    socket.destroy()
    closing ??= []
    closing.push(closed)
  }
  if (closing !== undefined) await Promise.all(closing)
  if (server._socket === undefined && (server.responseBuffer.length > 0 || server.requestTimeouts.length > 0)) {
    resetConnection(server, new MemcachedConnectionError(`the connection to memcached at ${describeServer(server)} was lost`))
  }
}

/**
 * Fails everything pending on the server's connection with `error` (memjs retries its
 * own operations; ours are not retried), closes its sockets and empties the buffer they
 * shared, so that the next request starts a clean connection.
 */
function resetConnection (server: MemjsServer, error: MemcachedConnectionError): void {
  server.error(error)
  server.responseBuffer = NO_BYTES
  for (const socket of stateOf(server).sockets.keys()) socket.destroy()
}

/** Whether `client` has the memjs 1.x internals this layer relies on. */
export function isMemjsClient (client: unknown): client is MemjsClient {
  const candidate = client as Partial<Record<keyof MemjsClient, unknown>> | null
  if (typeof client !== 'object' || candidate === null || typeof candidate.server !== 'function' ||
    typeof candidate.incrSeq !== 'function' || typeof candidate.seq !== 'number' || !Array.isArray(candidate.servers)) {
    return false
  }
  return candidate.servers.every((server: unknown) => {
    const parts = server as Partial<Record<keyof MemjsServer, unknown>> | null
    return typeof server === 'object' && parts !== null && typeof parts.onResponse === 'function' &&
      typeof parts.onError === 'function' && typeof parts.sock === 'function' && typeof parts.error === 'function' &&
      Buffer.isBuffer(parts.responseBuffer) && Array.isArray(parts.requestTimeouts)
  })
}
