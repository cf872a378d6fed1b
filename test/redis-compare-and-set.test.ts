/**
 * The compare-and-set script against a real redis-server and a real 3-master Cluster:
 * it writes only over the exact bytes it was given, answers with what the record holds
 * otherwise, survives a flushed script cache, and compares bytes, never JSON.
 */
import { Cluster, Redis } from 'ioredis'
import t from 'tap'
import { CompareAndSetScript } from '../lib/storage/redis-compare-and-set.js'
import type { ScriptClient } from '../lib/storage/redis-compare-and-set.js'
import { startRedis, startRedisCluster } from './helpers/servers.js'

const server = await startRedis(t)
const redis = new Redis({ host: '127.0.0.1', port: server.port })
t.teardown(() => { redis.disconnect() })
const script = new CompareAndSetScript(redis)
const compareAndSet = async (client: ScriptClient, key: string, expected: Buffer, value: string, ttl: number | undefined) =>
  await (client === redis ? script : new CompareAndSetScript(client)).run(key, expected, value, ttl)

/** A Python-written record: numbers JSON.parse would round, a float repr, spaces. */
const PYTHON_RECORD = '{"created": 1700000000, "session": {"id": 18446744073709551616, "f": 1.0, "g": 1e+20}}'

t.test('writes over the exact bytes it was given, with or without a TTL', async (t) => {
  await redis.set('cas:a', PYTHON_RECORD)
  t.same(await compareAndSet(redis, 'cas:a', Buffer.from(PYTHON_RECORD), 'next', 60), { outcome: 'stored' })
  t.equal(await redis.get('cas:a'), 'next')
  t.ok(await redis.ttl('cas:a') > 50)
  t.same(await compareAndSet(redis, 'cas:a', Buffer.from('next'), 'last', undefined), { outcome: 'stored' })
  t.equal(await redis.ttl('cas:a'), -1, 'no TTL without one')
})

t.test('a record that changed is left alone, and its bytes come back', async (t) => {
  await redis.set('cas:b', PYTHON_RECORD)
  // The same JSON value, other bytes: still a change (a write happened).
  const reencoded = JSON.stringify(JSON.parse(PYTHON_RECORD))
  const outcome = await compareAndSet(redis, 'cas:b', Buffer.from(reencoded), 'mine', 60)
  t.equal(outcome.outcome, 'changed')
  t.equal(outcome.outcome === 'changed' && outcome.current.toString(), PYTHON_RECORD)
  t.equal(await redis.get('cas:b'), PYTHON_RECORD, 'untouched')
  t.equal(await redis.ttl('cas:b'), -1)
})

t.test('a record that is gone stays gone', async (t) => {
  t.same(await compareAndSet(redis, 'cas:missing', Buffer.from('x'), 'mine', 60), { outcome: 'missing' })
  t.equal(await redis.exists('cas:missing'), 0)
})

t.test('bytes that are not UTF-8 compare as bytes', async (t) => {
  const binary = Buffer.from([0xff, 0xfe, 0x00, 0x41])
  await redis.set('cas:d', binary)
  t.same(await compareAndSet(redis, 'cas:d', Buffer.from([0xff, 0xfe, 0x00, 0x42]), 'x', undefined), { outcome: 'changed', current: binary })
  t.same(await compareAndSet(redis, 'cas:d', binary, 'x', undefined), { outcome: 'stored' })
})

t.test('the first run sends the script, later ones its hash; a flushed cache costs one EVAL more', async (t) => {
  const fresh = new CompareAndSetScript(redis)
  await redis.set('cas:e', 'v')
  await redis.script('FLUSH')
  const calls = await scriptCalls(redis)
  t.same(await fresh.run('cas:e', Buffer.from('v'), 'w', undefined), { outcome: 'stored' })
  t.same(await fresh.run('cas:e', Buffer.from('w'), 'x', undefined), { outcome: 'stored' })
  t.same(await scriptCallsSince(redis, calls), { eval: 1, evalsha: 1 }, 'EVAL first, then EVALSHA')
  await redis.script('FLUSH')
  const flushed = await scriptCalls(redis)
  t.same(await fresh.run('cas:e', Buffer.from('x'), 'y', undefined), { outcome: 'stored' })
  t.same(await fresh.run('cas:e', Buffer.from('y'), 'z', undefined), { outcome: 'stored' })
  t.same(await scriptCallsSince(redis, flushed), { eval: 1, evalsha: 2 }, 'one EVALSHA refused (NOSCRIPT), one EVAL, then EVALSHA succeeds')
  t.equal(await redis.get('cas:e'), 'z')
})

t.test('errors other than NOSCRIPT are not retried', async (t) => {
  await redis.set('cas:f', 'v')
  await t.rejects(compareAndSet(redis, 'cas:f', Buffer.from('v'), 'w', 0), /invalid expire time/)
  t.equal(await redis.get('cas:f'), 'v', 'nothing written')
  // A replica that refuses writes: EVAL (the first run) goes through, then EVALSHA fails.
  const sent: string[] = []
  const readOnlyLater = new CompareAndSetScript({
    callBuffer: async (command, ...args) => {
      sent.push(command)
      if (command === 'EVALSHA') throw new Error('READONLY You can\'t write against a read only replica.')
      return await redis.callBuffer(command, ...args)
    }
  })
  t.same(await readOnlyLater.run('cas:f', Buffer.from('v'), 'w', undefined), { outcome: 'stored' })
  await t.rejects(readOnlyLater.run('cas:f', Buffer.from('w'), 'x', undefined), /READONLY/)
  t.same(sent, ['EVAL', 'EVALSHA'], 'the EVALSHA refused for another reason is not followed by an EVAL')
})

t.test('a reply the script never gives is refused', async (t) => {
  for (const reply of [null, 'OK', [2], [0, 'text'], [1, Buffer.from('x')].slice(1)]) {
    const odd: ScriptClient = { callBuffer: async () => reply }
    await t.rejects(compareAndSet(odd, 'k', Buffer.from('v'), 'w', undefined), /unexpected reply/)
  }
})

t.test('on a Cluster, the script runs on the node that owns each key', async (t) => {
  const nodes = await startRedisCluster(t)
  const cluster = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }])
  t.teardown(() => { cluster.disconnect() })
  // Keys in all three nodes' slot ranges.
  const keys = Array.from({ length: 12 }, (_, index) => `AIOHTTP_SESSION_cluster${index}`)
  for (const key of keys) {
    await cluster.set(key, 'old')
    t.same(await compareAndSet(cluster, key, Buffer.from('old'), 'new', 30), { outcome: 'stored' })
    t.equal((await compareAndSet(cluster, key, Buffer.from('old'), 'newer', 30)).outcome, 'changed')
    t.equal(await cluster.get(key), 'new')
  }
  // Which node holds each key, asked of each node directly.
  const perNode = nodes.map((node) => new Redis({ host: '127.0.0.1', port: node.port }))
  t.teardown(() => { for (const client of perNode) client.disconnect() })
  const owners = new Set<number>()
  for (const [index, client] of perNode.entries()) {
    if ((await client.keys('AIOHTTP_SESSION_cluster*')).length > 0) owners.add(index)
  }
  t.ok(owners.size > 1, 'the keys live on more than one node')
})

async function scriptCallsSince (client: Redis, before: { eval: number, evalsha: number }): Promise<{ eval: number, evalsha: number }> {
  const after = await scriptCalls(client)
  return { eval: after.eval - before.eval, evalsha: after.evalsha - before.evalsha }
}

async function scriptCalls (client: Redis): Promise<{ eval: number, evalsha: number }> {
  const stats = await client.info('commandstats')
  const calls = (name: string): number => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
  return { eval: calls('eval'), evalsha: calls('evalsha') }
}
