/**
 * The fault proxy (test/helpers/fault-proxy.ts) that other tests rely on, checked
 * against real servers: it forwards faithfully, counts the commands of both protocols
 * (even when they arrive split across packets), and each fault does what it says.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import t from 'tap'
import type { Test } from 'tap'
import { FaultProxy } from './helpers/fault-proxy.js'
import { startMemcached, startRedis } from './helpers/servers.js'

const quiet = { log () {} }
const memcached = await startMemcached(t)
const redisServer = await startRedis(t)

/** A raw connection to the proxy that collects everything it receives. */
async function rawClient (t: Test, proxy: FaultProxy): Promise<{ socket: Socket, received: Buffer[], ended: Promise<void> }> {
  const socket = connect(proxy.port, '127.0.0.1')
  t.teardown(() => { socket.destroy() })
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  const ended = new Promise<void>((resolve) => socket.once('close', () => { resolve() }))
  await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
  return { socket, received, ended }
}

/** A binary request with a key and an optional value (GETK 0x0c, SET 0x01, ...). */
function binaryRequest (opcode: number, key: string, value = '', extras = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(24)
  header.writeUInt8(0x80, 0)
  header.writeUInt8(opcode, 1)
  header.writeUInt16BE(key.length, 2)
  header.writeUInt8(extras.length, 4)
  header.writeUInt32BE(extras.length + key.length + value.length, 8)
  return Buffer.concat([header, extras, Buffer.from(key), Buffer.from(value)])
}

async function waitUntil (what: string, check: () => boolean): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  throw new Error(`${what} did not happen`)
}

/** Whether `promise` is still pending after `ms` (for "nothing got through"). */
async function stillPending (promise: Promise<unknown>, ms: number): Promise<boolean> {
  const pending = Symbol('pending')
  const outcome = await Promise.race([promise.then(() => 'settled', () => 'settled'), new Promise((resolve) => setTimeout(() => resolve(pending), ms))])
  return outcome === pending
}

t.test('passes traffic through and counts Memcached binary commands by opcode, even split across packets', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  const client = memjs.Client.create(proxy.address, { logger: quiet })
  t.teardown(() => client.close())
  await client.set('proxied', 'value', {})
  t.equal((await client.get('proxied')).value?.toString(), 'value')
  await client.delete('proxied')
  t.same(proxy.commands(), { DELETE: 1, GET: 1, SET: 1 })

  proxy.resetCommands()
  t.same(proxy.commands(), {})
  const { socket, received } = await rawClient(t, proxy)
  const bytes = Buffer.concat([binaryRequest(0x0c, 'a'), binaryRequest(0x0a, ''), binaryRequest(0x55, 'b'), binaryRequest(0x07, '')])
  // Split inside the first header and inside the third request's key.
  socket.write(bytes.subarray(0, 10))
  await waitUntil('the first piece arrived', () => proxy.acceptedConnections === 2)
  socket.write(bytes.subarray(10, 72))
  socket.write(bytes.subarray(72))
  await waitUntil('all four counted', () => Object.keys(proxy.commands()).length === 4)
  t.same(proxy.commands(), { '0x55': 1, GETK: 1, NOOP: 1, QUIT: 1 }, 'unknown opcodes are counted by number')
  await waitUntil('the replies arrived', () => Buffer.concat(received).length >= 24 * 3)
  t.equal(Buffer.concat(received)[0], 0x81, 'the server\'s replies come back')
})

t.test('counts Redis RESP commands by name (and inline ones), even split across packets', async (t) => {
  const proxy = await FaultProxy.start(t, redisServer.port)
  const redis = new Redis({ host: '127.0.0.1', port: proxy.port })
  t.teardown(() => redis.disconnect())
  await redis.set('proxied', 'value')
  t.equal(await redis.get('proxied'), 'value')
  const sha = await redis.script('LOAD', 'return redis.call("GET", KEYS[1])') as string
  t.equal(await redis.evalsha(sha, 1, 'proxied'), 'value')
  t.match(proxy.commands(), { EVALSHA: 1, GET: 1, SCRIPT: 1, SET: 1 })

  proxy.resetCommands()
  const { socket, received } = await rawClient(t, proxy)
  const command = Buffer.from('*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nhello\r\nPING\r\n*2\r\n$3\r\nget\r\n$1\r\nk\r\n')
  // Pieces that end inside a count, a length, a bulk string and an inline command.
  const cuts = [2, 9, 22, 27, 34, 38, 45, command.length]
  for (const [index, cut] of cuts.entries()) {
    socket.write(command.subarray(cuts[index - 1] ?? 0, cut))
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  await waitUntil('all three counted', () => Object.keys(proxy.commands()).length === 3)
  t.same(proxy.commands(), { GET: 1, PING: 1, SET: 1 })
  await waitUntil('the replies arrived', () => Buffer.concat(received).toString().includes('$5\r\nhello'))
  t.equal(Buffer.concat(received).toString(), '+OK\r\n+PONG\r\n$5\r\nhello\r\n')
})

t.test('blackhole: nothing is forwarded in the directions chosen, the connection stays open, heal delivers what was held', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  const client = memjs.Client.create(proxy.address, { logger: quiet, timeout: 60 })
  t.teardown(() => client.close())
  await client.set('held', 'value', {})
  for (const direction of ['request', 'reply', 'both'] as const) {
    proxy.resetCommands()
    proxy.blackhole(direction)
    const read = client.get('held')
    t.ok(await stillPending(read, 200), `${direction}: no answer while the network is cut`)
    t.same(proxy.commands(), { GET: 1 }, `${direction}: the request was sent`)
    t.equal(proxy.openConnections, 1, `${direction}: the connection stays open`)
    proxy.heal()
    t.equal((await read).value?.toString(), 'value', `${direction}: healing delivers it, in order`)
  }
})

t.test('latency delays each chunk by at least the latency, in order', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  const client = memjs.Client.create(proxy.address, { logger: quiet, timeout: 60 })
  t.teardown(() => client.close())
  await client.set('slow', 'value', {})
  proxy.latency(150, 'reply')
  const start = performance.now()
  const answers = await Promise.all([client.get('slow'), client.get('slow')])
  t.ok(performance.now() - start >= 145, 'the reply came after the latency')
  t.same(answers.map((answer) => answer.value?.toString()), ['value', 'value'])
  proxy.latency(0)
  t.equal((await client.get('slow')).value?.toString(), 'value')
})

t.test('trickle forwards a few bytes at a time', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  const { socket, received } = await rawClient(t, proxy)
  socket.write(binaryRequest(0x01, 'trickled', 'x'.repeat(100), Buffer.alloc(8)))
  await waitUntil('stored', () => Buffer.concat(received).length === 24)
  received.length = 0
  proxy.trickle({ bytes: 10, interval: 10 })
  const start = performance.now()
  socket.write(binaryRequest(0x0c, 'trickled'))
  const length = 24 + 4 + 8 + 100
  await waitUntil('the whole reply arrived', () => Buffer.concat(received).length === length)
  // 14 pieces with a pause after each but the last. (The client may read several
  // pieces at once, so their count is not what it sees.)
  t.ok(performance.now() - start >= 13 * 10 - 5, 'the reply took at least the pauses between its pieces')
  t.equal(Buffer.concat(received).subarray(36).toString(), 'x'.repeat(100), 'and arrived whole, in order')
})

t.test('cutNextReply forwards that many bytes of the next reply, then ends the connection', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  const { socket, received, ended } = await rawClient(t, proxy)
  socket.write(binaryRequest(0x01, 'cut', 'y'.repeat(5000), Buffer.alloc(8)))
  await waitUntil('stored', () => Buffer.concat(received).length === 24)
  received.length = 0
  const cut = proxy.cutNextReply(1000)
  await t.rejects(proxy.cutNextReply(5), { message: 'a cut is already armed' })
  proxy.trickle({ bytes: 300, interval: 1 })
  socket.write(binaryRequest(0x0c, 'cut'))
  await cut
  await ended
  t.equal(Buffer.concat(received).length, 1000, 'exactly 1000 bytes, over several pieces, then the end')
  await waitUntil('the proxy let go of it', () => proxy.openConnections === 0)
})

t.test('injectReply needs exactly one open connection; dropConnections closes them all', async (t) => {
  const proxy = await FaultProxy.start(t, memcached.port)
  t.throws(() => proxy.injectReply(Buffer.from('x')), { message: 'injectReply needs exactly one open connection; there are 0' })
  const first = await rawClient(t, proxy)
  const second = await rawClient(t, proxy)
  await waitUntil('both accepted', () => proxy.openConnections === 2)
  t.throws(() => proxy.injectReply(Buffer.from('x')), { message: 'injectReply needs exactly one open connection; there are 2' })
  proxy.dropConnections()
  await Promise.all([first.ended, second.ended])
  t.equal(proxy.openConnections, 0)
  t.equal(proxy.acceptedConnections, 2)
  const third = await rawClient(t, proxy)
  await waitUntil('accepted', () => proxy.openConnections === 1)
  proxy.injectReply(Buffer.from('forged'))
  await waitUntil('delivered', () => Buffer.concat(third.received).toString() === 'forged')
  t.pass('an injected reply reaches the client')
})
