/**
 * MemcachedBinaryClient (lib/storage/memcached-binary.ts) against real memcached
 * servers, most of them behind the fault proxy: every operation and every status it
 * can meet (hit, miss, add on an existing item, CAS match/mismatch/missing, too large,
 * other errors), writes by another client between a read and a compare-and-set, the
 * server memjs picks for each key, and the connection resets: timeouts, replies that
 * do not answer the request, connections memjs gave up on.
 */
import memjs from 'memjs'
import t from 'tap'
import type { Test } from 'tap'
import {
  MemcachedBinaryClient, MemcachedConnectionError, MemcachedProtocolError, MemcachedStatusError, MemcachedTimeoutError,
  MemcachedTooLargeError, isMemjsClient
} from '../lib/storage/memcached-binary.js'
import type { MemjsClient } from '../lib/storage/memcached-binary.js'
import { FaultProxy } from './helpers/fault-proxy.js'
import { rawCommand, startMemcached } from './helpers/servers.js'

const quiet = { log () {} }
/**
 * Generous bounds (the layer's, and memjs's own per-request timer, 0.5 s by default) for
 * the tests that are not about timeouts: a loaded machine must not turn them into ones.
 */
const TIMEOUT = 5000
const MEMJS_TIMEOUT_SECONDS = 5
/**
 * The bound of the operations that are meant to time out; they go through a second
 * layer over the same client, so the operations around them keep the generous one.
 */
const SHORT_TIMEOUT = 300

const server = await startMemcached(t)

/** A memjs client through a fresh proxy, and the layer over it (twice: a generous bound, and a short one). */
async function setUp (t: Test, options: { memjs?: Record<string, unknown> } = {}):
Promise<{ client: memjs.Client<string | Buffer, unknown>, memcached: MemcachedBinaryClient, impatient: MemcachedBinaryClient, proxy: FaultProxy }> {
  const proxy = await FaultProxy.start(t, server.port)
  const client = memjs.Client.create(proxy.address, { logger: quiet, timeout: MEMJS_TIMEOUT_SECONDS, ...options.memjs })
  t.teardown(() => client.close())
  const memcached = new MemcachedBinaryClient(client as unknown as MemjsClient, { timeout: TIMEOUT })
  const impatient = new MemcachedBinaryClient(client as unknown as MemjsClient, { timeout: SHORT_TIMEOUT })
  return { client, memcached, impatient, proxy }
}

let keys = 0
/** A key no other test uses. */
function freshKey (): string {
  return `test_${process.pid}_${++keys}`
}

/** The item as memcached holds it, read with the meta protocol: value, flags and seconds left (-1: never). */
async function rawItem (key: string): Promise<{ value: string, flags: number, ttl: number } | null> {
  const reply = await rawCommand(server.port, `mg ${key} v f t\r\nquit\r\n`)
  if (reply.startsWith('EN')) return null
  const match = /^VA (\d+) f(\d+) t(-?\d+)\r\n/.exec(reply)
  if (match === null) throw new Error(`unexpected memcached reply: ${reply.slice(0, 40)}`)
  const start = reply.indexOf('\r\n') + 2
  return { value: Buffer.from(reply.slice(start, start + Number(match[1])), 'latin1').toString('utf8'), flags: Number(match[2]), ttl: Number(match[3]) }
}

/** A write by another client on the text protocol, as Python's aiomcache does it (flags 0). */
async function textSet (key: string, value: string): Promise<void> {
  const bytes = Buffer.from(value, 'utf8')
  const reply = await rawCommand(server.port, `set ${key} 0 0 ${bytes.length}\r\n${bytes.toString('latin1')}\r\nquit\r\n`)
  if (reply !== 'STORED\r\n') throw new Error(`set failed: ${reply}`)
}

async function waitUntil (what: string, check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 500; turn++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${what} did not happen`)
}

t.test('get, set, add, delete: hits, misses and values as bytes', async (t) => {
  const { memcached } = await setUp(t)
  const key = freshKey()
  t.equal(await memcached.get(key), null, 'a miss is null')
  await memcached.set(key, 'état 😀', 0)
  const item = await memcached.get(key)
  t.ok(item !== null && Buffer.isBuffer(item.value))
  t.equal(item?.value.toString('utf8'), 'état 😀', 'text is stored as UTF-8')
  t.equal(typeof item?.cas, 'bigint')
  t.ok(item !== null && item.cas > 0n, 'a hit carries its CAS')

  await memcached.set(key, Buffer.from([0xff, 0x00, 0xfe]), 0)
  t.same((await memcached.get(key))?.value, Buffer.from([0xff, 0x00, 0xfe]), 'bytes are stored as they are')

  t.equal(await memcached.add(key, 'other', 0), 'exists', 'add on an existing item')
  t.same((await memcached.get(key))?.value, Buffer.from([0xff, 0x00, 0xfe]), 'and the item is left alone')
  const added = freshKey()
  t.equal(await memcached.add(added, 'new', 0), 'stored', 'add on a new key')
  t.equal((await memcached.get(added))?.value.toString(), 'new')

  t.equal(await memcached.delete(key), true, 'delete of an item')
  t.equal(await memcached.delete(key), false, 'delete of a missing item')
  t.equal(await memcached.get(key), null)
})

t.test('writes carry flags 0 and the exptime as given, whatever serializer the client has', async (t) => {
  const { memcached } = await setUp(t, {
    memjs: {
      // A serializer that would change both the value and the flags, were it used.
      serializer: {
        serialize: (_opcode: number, value: unknown) => ({ value: JSON.stringify(value), extras: Buffer.from('0000000700000000', 'hex') }),
        deserialize: (_opcode: number, value: Buffer, extras: Buffer) => ({ value: JSON.parse(value.toString()), extras })
      }
    }
  })
  const never = freshKey()
  await memcached.set(never, '{"a":1}', 0)
  t.same(await rawItem(never), { value: '{"a":1}', flags: 0, ttl: -1 }, 'exptime 0: never expires')
  t.equal((await memcached.get(never))?.value.toString(), '{"a":1}', 'read back as the raw bytes')

  const relative = freshKey()
  await memcached.add(relative, 'x', 3600)
  const item = await rawItem(relative)
  t.ok(item !== null && item.flags === 0 && item.ttl > 3590 && item.ttl <= 3600, `relative seconds (${item?.ttl})`)

  const absolute = freshKey()
  const now = Math.floor(Date.now() / 1000)
  await memcached.set(absolute, 'x', now + 40 * 24 * 3600)
  const far = await rawItem(absolute)
  t.ok(far !== null && far.ttl > 40 * 24 * 3600 - 10 && far.ttl <= 40 * 24 * 3600 + 1, `an absolute unix time (${far?.ttl})`)

  const cas = (await memcached.get(absolute))!.cas
  t.equal(await memcached.compareAndSet(absolute, 'y', 120, cas), 'stored')
  const replaced = await rawItem(absolute)
  t.ok(replaced !== null && replaced.flags === 0 && replaced.ttl > 110 && replaced.ttl <= 120, 'compare-and-set sets flags 0 and the new exptime')
})

t.test('compare-and-set: stored while unchanged, changed after any write, missing once deleted', async (t) => {
  const { memcached } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'v1', 0)
  const first = (await memcached.get(key))!
  t.equal(await memcached.compareAndSet(key, 'v2', 0, first.cas), 'stored', 'the CAS read is still current')
  const second = (await memcached.get(key))!
  t.equal(second.value.toString(), 'v2')
  t.not(second.cas, first.cas, 'the write changed the CAS')

  t.equal(await memcached.compareAndSet(key, 'v3', 0, first.cas), 'changed', 'a stale CAS')
  t.equal((await memcached.get(key))?.value.toString(), 'v2', 'and nothing was written')

  await memcached.delete(key)
  t.equal(await memcached.compareAndSet(key, 'v4', 0, second.cas), 'missing', 'the item is gone')
  t.equal(await memcached.get(key), null, 'and it is not created again')
})

t.test('a record written by another client (Python\'s aiomcache, text protocol) between get and compare-and-set is detected', async (t) => {
  const { memcached } = await setUp(t)
  const key = freshKey()
  await textSet(key, '{"created": 1, "session": {"a": 1}}')
  const read = (await memcached.get(key))!
  t.equal(read.value.toString(), '{"created": 1, "session": {"a": 1}}', 'a record Python wrote is read')

  await textSet(key, '{"created": 1, "session": {"a": 2}}')
  t.equal(await memcached.compareAndSet(key, '{"created":1,"session":{"a":3}}', 0, read.cas), 'changed')
  t.equal((await memcached.get(key))?.value.toString(), '{"created": 1, "session": {"a": 2}}', 'Python\'s write survives')

  const again = (await memcached.get(key))!
  await textSet(key, again.value.toString())
  t.equal(await memcached.compareAndSet(key, 'mine', 0, again.cas), 'changed', 'even a write of the same bytes changes the CAS')
  t.equal((await memcached.get(key))?.value.toString(), again.value.toString())
})

t.test('a CAS of 0 or wider than 64 bits is refused before anything is sent (0 would store unconditionally)', async (t) => {
  const { memcached, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'v1', 0)
  proxy.resetCommands()
  for (const cas of [0n, -1n, 2n ** 64n]) {
    await t.rejects(memcached.compareAndSet(key, 'v2', 0, cas), { name: 'RangeError', message: /non-zero 64-bit CAS read by get\(\)/ })
  }
  t.same(proxy.commands(), {}, 'no command reached the server')
  t.equal((await memcached.get(key))?.value.toString(), 'v1')
})

t.test('a value over the item size limit is its own error, with the size, and the connection stays usable', async (t) => {
  const { memcached, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'small', 0)
  // Memcached's default item limit is 1 MB, item header and key included.
  const big = Buffer.alloc(1024 * 1024, 0x61)
  async function refused (name: string, operation: Promise<unknown>): Promise<void> {
    const error = await operation.catch((error: unknown) => error)
    t.ok(error instanceof MemcachedTooLargeError, `${name}: a MemcachedTooLargeError`)
    t.ok(error instanceof MemcachedStatusError, `${name}: which is a status error`)
    t.match(error, { name: 'MemcachedTooLargeError', status: 3, size: big.length, message: `memcached refused the ${name} of a 1048576-byte value: it is over the server's item size limit` })
  }
  await refused('REPLACE', memcached.compareAndSet(key, big, 0, (await memcached.get(key))!.cas))
  t.equal((await memcached.get(key))?.value.toString(), 'small', 'a compare-and-set refused leaves the item as it was')
  const added = freshKey()
  await refused('ADD', memcached.add(added, big, 0))
  t.equal(await memcached.get(added), null, 'an add refused creates nothing')
  await refused('SET', memcached.set(key, big, 0))
  t.equal(await memcached.get(key), null, 'a set refused deletes the item (memcached\'s rule for SET)')
  t.equal(proxy.acceptedConnections, 1, 'all on the same connection')
})

t.test('other error statuses become a MemcachedStatusError naming the operation and the status, never the key', async (t) => {
  const { client, memcached, proxy } = await setUp(t)
  const key = `secret_${freshKey()}`
  const cases: Array<[string, () => Promise<unknown>, number, number, string]> = [
    ['GETK', () => memcached.get(key), 0x0c, 0x0082, 'out of memory'],
    ['SET', () => memcached.set(key, 'v', 0), 0x01, 0x0005, 'item not stored'],
    ['DELETE', () => memcached.delete(key), 0x04, 0x0086, 'temporary failure'],
    ['GETK', () => memcached.get(key), 0x0c, 0x00ff, 'unknown status']
  ]
  for (const [name, operation, opcode, status, statusName] of cases) {
    // Memcached answers these only under conditions a test cannot arrange (memory
    // pressure, a busy server): forge the answer, holding the request at the proxy so the
    // forged reply is the first one back. The real one behind it is dropped (nobody
    // waits for it any more) and the connection stays in step.
    const sent = Object.values(proxy.commands()).reduce((sum, count) => sum + count, 0)
    proxy.blackhole('request')
    const pending = operation().catch((error: unknown) => error)
    await waitUntil('the request reached the proxy', () => Object.values(proxy.commands()).reduce((sum, count) => sum + count, 0) === sent + 1)
    proxy.injectReply(forgedReply({ opcode, status, opaque: client.seq >>> 0 }))
    const error = await pending
    t.ok(error instanceof MemcachedStatusError)
    const hex = status.toString(16).padStart(4, '0')
    t.match(error, { name: 'MemcachedStatusError', status, message: `memcached answered the ${name} with status 0x${hex} (${statusName})` })
    t.notMatch((error as Error).message, /secret/)
    proxy.heal()
    t.equal(await memcached.get(freshKey()), null, 'the connection stays usable')
  }
  t.equal(proxy.acceptedConnections, 1, 'one connection throughout')
})

t.test('each operation is one command on the wire', async (t) => {
  const { memcached, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'v', 0)
  const { cas } = (await memcached.get(key))!
  await memcached.compareAndSet(key, 'w', 0, cas)
  await memcached.add(freshKey(), 'v', 0)
  await memcached.delete(key)
  t.same(proxy.commands(), { ADD: 1, DELETE: 1, GETK: 1, REPLACE: 1, SET: 1 })
})

t.test('the server for each key is memjs\'s own choice, over two servers', async (t) => {
  const second = await startMemcached(t)
  const options = { logger: quiet, timeout: MEMJS_TIMEOUT_SECONDS }
  const pool = memjs.Client.create(`${server.address},${second.address}`, options)
  const nodes = [server, second].map((node) => memjs.Client.create(node.address, options))
  t.teardown(() => { pool.close(); for (const node of nodes) node.close() })
  const memcached = new MemcachedBinaryClient(pool as unknown as MemjsClient, { timeout: TIMEOUT })

  const perServer = [0, 0]
  for (let index = 0; index < 40; index++) {
    const key = freshKey()
    await memcached.set(key, `value ${index}`, 0)
    const holders = await Promise.all(nodes.map(async (node) => (await node.get(key)).value !== null))
    const expected = pool.servers.indexOf(pool.server(key)!)
    t.same(holders, [expected === 0, expected === 1], `${key} is on the server memjs picks`)
    perServer[expected]!++
    // And the other way round: what memjs writes, the layer finds.
    await pool.set(key, `memjs ${index}`, {})
    t.equal((await memcached.get(key))?.value.toString(), `memjs ${index}`)
  }
  t.ok(perServer[0]! > 0 && perServer[1]! > 0, `both servers are used (${perServer.join(' / ')})`)

  // An application that overrides memjs's choice (its documented hook) is followed too.
  pool.getServer = () => '1' as unknown as string
  const key = freshKey()
  await memcached.set(key, 'on the second', 0)
  t.equal((await nodes[1]!.get(key)).value?.toString(), 'on the second')
  t.equal((await nodes[0]!.get(key)).value, null)
})

t.test('no server available (memjs marked every server failed) fails at once', async (t) => {
  const { client, memcached } = await setUp(t)
  const failed = client.servers[0] as unknown as { wakeupAt?: number }
  failed.wakeupAt = Date.now() + 60000
  await t.rejects(memcached.get(freshKey()), { name: 'MemcachedConnectionError', message: 'no memcached server is available (all are marked failed)' })
  delete failed.wakeupAt
  t.equal(await memcached.get(freshKey()), null)
})

t.test('isMemjsClient: only memjs 1.x clients, with the internals the layer uses', async (t) => {
  const { client } = await setUp(t)
  t.ok(isMemjsClient(client))
  const server = (): Record<string, unknown> =>
    ({ onResponse () {}, onError () {}, sock () {}, error () {}, responseBuffer: Buffer.alloc(0), requestTimeouts: [] })
  const withServers = (servers: unknown[]): unknown => ({ server () {}, incrSeq () {}, seq: 0, servers })
  t.ok(isMemjsClient(withServers([server(), server()])))
  const bad: unknown[] = [
    null, 'localhost:11211', 42, {}, { get () {}, set () {}, delete () {}, servers: [] },
    { server () {}, incrSeq () {}, servers: [] },
    { server () {}, seq: 0, servers: [] },
    { incrSeq () {}, seq: 0, servers: [] },
    { server () {}, incrSeq () {}, seq: 0 },
    withServers([null]),
    withServers(['localhost:11211'])
  ]
  for (const part of ['onResponse', 'onError', 'sock', 'error', 'responseBuffer', 'requestTimeouts']) {
    bad.push(withServers([server(), { ...server(), [part]: undefined }]))
  }
  bad.push(withServers([{ ...server(), responseBuffer: 'text' }]))
  for (const candidate of bad) t.notOk(isMemjsClient(candidate), JSON.stringify(candidate))
})

/** A reply as memcached would frame it, with whatever fields a test needs wrong. */
function forgedReply (fields: { magic?: number, opcode: number, status?: number, opaque: number, key?: string, extras?: Buffer }): Buffer {
  const key = Buffer.from(fields.key ?? '')
  const extras = fields.extras ?? Buffer.alloc(0)
  const header = Buffer.alloc(24)
  header.writeUInt8(fields.magic ?? 0x81, 0)
  header.writeUInt8(fields.opcode, 1)
  header.writeUInt16BE(key.length, 2)
  header.writeUInt8(extras.length, 4)
  header.writeUInt16BE(fields.status ?? 0, 6)
  header.writeUInt32BE(extras.length + key.length, 8)
  header.writeUInt32BE(fields.opaque, 12)
  header.writeBigUInt64BE(7n, 16)
  return Buffer.concat([header, extras, key])
}

t.test('a reply that does not answer the request fails it and resets the connection; the next operation works', async (t) => {
  const { client, memcached, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'mine', 0)
  const flags = Buffer.alloc(4)
  const cases: Array<[string, (opaque: number) => Buffer]> = [
    ['opcode 0x1 for 0xc', (opaque) => forgedReply({ opcode: 0x01, opaque })],
    ['another key', (opaque) => forgedReply({ opcode: 0x0c, opaque, key: 'other', extras: flags })],
    ['another key', (opaque) => forgedReply({ opcode: 0x0c, status: 1, opaque, key: 'other' })],
    ['magic 0x80', (opaque) => forgedReply({ magic: 0x80, opcode: 0x0c, opaque, key, extras: flags })],
    ['0 bytes of extras', (opaque) => forgedReply({ opcode: 0x0c, opaque, key })]
  ]
  let connections = proxy.acceptedConnections
  let sent = 0
  for (const [mismatch, forge] of cases) {
    // The request is held at the proxy, so the forged reply is the first one back.
    proxy.blackhole('request')
    const pending = memcached.get(key).catch((error: unknown) => error)
    await waitUntil('the request reached the proxy', () => proxy.commands()['GETK'] === sent + 1)
    sent++
    proxy.injectReply(forge(client.seq >>> 0))
    const error = await pending
    t.ok(error instanceof MemcachedProtocolError, mismatch)
    t.match(error, { name: 'MemcachedProtocolError', message: `memcached at ${proxy.address} sent a reply that does not answer the request (${mismatch})` })
    proxy.heal()
    t.equal((await memcached.get(key))?.value.toString(), 'mine', `${mismatch}: the next operation gets its own reply`)
    sent++
    t.equal(proxy.acceptedConnections, connections + 1, `${mismatch}: on a new connection`)
    connections = proxy.acceptedConnections
  }
})

t.test('a timeout fails the operation, resets its connection and fails what else was pending on it; the next operation, sent at once, works', async (t) => {
  const { memcached, impatient, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'mine', 0)
  proxy.blackhole('reply')
  const first = impatient.get(key).catch((error: unknown) => error)
  await waitUntil('the first request reached the proxy', () => proxy.commands()['GETK'] === 1)
  const second = memcached.set(freshKey(), 'x', 0).catch((error: unknown) => error)
  await waitUntil('the second request reached the proxy', () => proxy.commands()['SET'] === 2)
  const firstError = await first
  t.ok(firstError instanceof MemcachedTimeoutError)
  t.match(firstError, { name: 'MemcachedTimeoutError', message: `memcached at ${proxy.address} did not answer within ${SHORT_TIMEOUT} ms` })
  // Not its own (far longer) timeout: the reset failed it.
  const secondError = await second
  t.ok(secondError instanceof MemcachedConnectionError)
  t.match(secondError, { message: `the connection to memcached at ${proxy.address} was reset: an operation on it timed out (${SHORT_TIMEOUT} ms)`, cause: firstError })
  proxy.heal()
  // Sent before the reset connection has finished closing: it waits for that, then
  // goes out on a new connection (memjs would otherwise lose track of it).
  t.equal((await memcached.get(key))?.value.toString(), 'mine')
  t.equal(proxy.acceptedConnections, 2)
  await waitUntil('the old connection is gone', () => proxy.openConnections === 1)
})

t.test('stray bytes before a reply (a stream out of step) end in a timeout, and the reset brings it back', async (t) => {
  const { memcached, impatient, proxy } = await setUp(t)
  const key = freshKey()
  await memcached.set(key, 'mine', 0)
  proxy.blackhole('request')
  const pending = impatient.get(key).catch((error: unknown) => error)
  await waitUntil('the request reached the proxy', () => proxy.commands()['GETK'] === 1)
  proxy.injectReply(Buffer.from([0x81, 0, 0, 0, 0]))
  proxy.heal()
  t.match(await pending, { name: 'MemcachedTimeoutError' })
  t.equal((await memcached.get(key))?.value.toString(), 'mine')
  for (let index = 0; index < 5; index++) t.equal((await memcached.get(key))?.value.toString(), 'mine')
})

t.test('memjs\'s own per-request timer does not cut the layer\'s operations short: the layer\'s timeout is the bound', async (t) => {
  const { memcached, impatient, proxy } = await setUp(t, { memjs: { timeout: 0.1, conntimeout: 5 } })
  await memcached.get(freshKey())
  proxy.blackhole('reply')
  const error = await impatient.get(freshKey()).catch((error: unknown) => error)
  t.ok(error instanceof MemcachedTimeoutError, 'the layer\'s timeout, not memjs\'s, ended it')
  t.match(error, { message: `memcached at ${proxy.address} did not answer within ${SHORT_TIMEOUT} ms` })
})

t.test('the application\'s own memjs request timing out takes the connection down: the layer\'s operation on it fails with memjs\'s error as the cause; the next works', async (t) => {
  const { client, memcached, proxy } = await setUp(t, { memjs: { timeout: 0.2, conntimeout: 5 } })
  const key = freshKey()
  await memcached.set(key, 'mine', 0)
  proxy.blackhole('reply')
  const own = client.get(freshKey()).catch((error: unknown) => error)
  const error = await memcached.get(key).catch((error: unknown) => error)
  t.ok(error instanceof MemcachedConnectionError)
  t.match(error, { message: `the connection to memcached at ${proxy.address} failed`, cause: { message: 'socket timed out waiting on response.' } })
  t.match(await own, { message: 'socket timed out waiting on response.' }, 'as memjs\'s own request did')
  proxy.heal()
  t.equal((await memcached.get(key))?.value.toString(), 'mine')
})

t.test('a connection closed mid-reply fails the operation at once; the next one works, at once and after idling', async (t) => {
  const { memcached, proxy } = await setUp(t)
  const key = freshKey()
  const value = 'v'.repeat(100 * 1024)
  await memcached.set(key, value, 0)
  const cut = proxy.cutNextReply(1000)
  const error = await memcached.get(key).catch((error: unknown) => error)
  await cut
  t.ok(error instanceof MemcachedConnectionError)
  t.match(error, { message: `the connection to memcached at ${proxy.address} closed before the reply was complete` })
  t.equal((await memcached.get(key))?.value.toString(), value, 'at once')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal((await memcached.get(key))?.value.toString(), value, 'after idling longer than memjs\'s timers')
})

t.test('what memjs\'s own operations left on a dead connection is cleared before the layer sends (and memjs\'s operation is retried)', async (t) => {
  for (const afterBytes of [1000, 0]) {
    const { client, memcached, proxy } = await setUp(t)
    const key = freshKey()
    const value = 'm'.repeat(100 * 1024)
    await client.set(key, value, {})
    // A read by the application itself, cut: memjs keeps its half reply (or its
    // request's deadline) and would wait for the answer forever.
    const cut = proxy.cutNextReply(afterBytes)
    const own = client.get(key)
    await cut
    await waitUntil('memjs noticed the close', () => (client.servers[0] as unknown as { _socket?: unknown })._socket === undefined)
    t.equal((await memcached.get(key))?.value.toString(), value, `${afterBytes} bytes received: the layer reads at once`)
    t.equal((await own).value?.toString(), value, `${afterBytes} bytes received: memjs's own read, failed by the reset, was retried and answered`)
  }
})

t.test('a server that refuses connections fails each operation; once it is back, the next works', async (t) => {
  const down = await startMemcached(t)
  const client = memjs.Client.create(down.address, { logger: quiet, timeout: MEMJS_TIMEOUT_SECONDS })
  t.teardown(() => client.close())
  const memcached = new MemcachedBinaryClient(client as unknown as MemjsClient, { timeout: TIMEOUT })
  const key = freshKey()
  await memcached.set(key, 'before', 0)
  await down.stop()
  // Until memjs has seen the old connection close, a write on it fails differently (EPIPE).
  await waitUntil('memjs noticed the close', () => (client.servers[0] as unknown as { _socket?: unknown })._socket === undefined)
  for (let attempt = 0; attempt < 3; attempt++) {
    t.match(await memcached.get(key).catch((error: unknown) => error), { name: 'MemcachedConnectionError', cause: { code: 'ECONNREFUSED' } })
  }
  await down.start()
  t.equal(await memcached.get(key), null, 'the restarted server is empty, and answers')
})
