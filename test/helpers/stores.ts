/**
 * The two real stores behind the server-side storages, each with a storage factory,
 * raw access to its records that bypasses the storage, and the commands the storages'
 * client sent, counted on the wire by a proxy between it and the server (the server's
 * own counters would also count the commands a Redis script runs inside).
 */
import type { LightMyRequestResponse } from 'fastify'
import { Cluster, Redis } from 'ioredis'
import memjs from 'memjs'
import type { StoreStorage, StoreStorageOptions } from '../../lib/storage/store-storage.js'
import { MemcachedStorage } from '../../storages/memcached.js'
import { RedisStorage } from '../../storages/redis.js'
import { SESSION_COOKIE, cookieValue } from './cookies.js'
import { FaultProxy } from './fault-proxy.js'
import { memcachedStats, rawCommand, startMemcached, startRedis, startRedisCluster } from './servers.js'
import type { Teardown } from './teardown.js'

/** How many reads, writes and deletes the storages' client sent. */
export interface IoCounts {
  reads: number
  writes: number
  deletes: number
}

/** Which commands are reads, writes and deletes (a compare-and-set script is one write, whatever it runs). */
const COMMAND_KINDS: Readonly<Record<keyof IoCounts, readonly string[]>> = {
  reads: ['GET', 'GETK'],
  writes: ['SET', 'EVALSHA', 'EVAL', 'ADD', 'REPLACE'],
  deletes: ['DEL', 'DELETE']
}

function countsOf (proxy: FaultProxy): IoCounts {
  const commands = proxy.commands()
  const total = (names: readonly string[]): number => names.reduce((sum, name) => sum + (commands[name] ?? 0), 0)
  return { reads: total(COMMAND_KINDS.reads), writes: total(COMMAND_KINDS.writes), deletes: total(COMMAND_KINDS.deletes) }
}

/** One store under test. */
export interface StoreBackend {
  name: string
  storage (options?: StoreStorageOptions): StoreStorage
  rawGet (key: string): Promise<Buffer | null>
  rawSet (key: string, value: string | Buffer): Promise<void>
  rawDelete (key: string): Promise<void>
  /** What the storages' client has sent so far. */
  io (): Promise<IoCounts>
  /** Makes the servers forget the scripts they cached (Redis `SCRIPT FLUSH`); nothing for Memcached. */
  flushScripts (): Promise<void>
  /**
   * Runs `action` just before each write or delete the storages' client sends reaches the
   * server (a concurrent writer winning every race); undefined stops it.
   */
  beforeWrites (action: (() => Promise<void>) | undefined): void
  /** The same before every read, write and delete, told which kind it is. */
  beforeCommands (action: ((kind: keyof IoCounts) => Promise<void>) | undefined): void
  /**
   * How many records the servers have written so far, by their own count (Redis: SET
   * commands run, those inside the compare-and-set script included, so a compare-and-set
   * that found the record changed counts none; Memcached: items stored). Unlike `io`,
   * which counts what the client sent, this counts what was written.
   */
  storedWrites (): Promise<number>
  /** Seconds the server will keep the record under `key` (-1: forever), or null when it has none. */
  ttl (key: string): Promise<number | null>
}

/** SET commands a Redis server has run (`INFO commandstats`), including those run by scripts. */
async function redisSets (redis: Redis): Promise<number> {
  const info = await redis.info('commandstats')
  return Number(/^cmdstat_set:calls=(\d+)/m.exec(info)?.[1] ?? 0)
}

/** What `ttl` answers for an ioredis reply: -2 (no key) is null. */
function redisTtl (seconds: number): number | null {
  return seconds === -2 ? null : seconds
}

/** Seconds memcached will keep `key` (meta command `mg <key> t`), asking each server until one has it. */
async function memcachedTtl (ports: readonly number[], key: string): Promise<number | null> {
  for (const port of ports) {
    const answer = await rawCommand(port, `mg ${key} t\r\nquit\r\n`)
    const match = /^HD t(-?\d+)\r\n/.exec(answer)
    if (match !== null) return Number(match[1])
  }
  return null
}

async function memcachedItemsStored (ports: readonly number[]): Promise<number> {
  const stats = await Promise.all(ports.map(async (port) => await memcachedStats(port)))
  return stats.reduce((sum, next) => sum + (next['total_items'] ?? 0), 0)
}

function interceptWrites (counters: readonly FaultProxy[], action: (() => Promise<void>) | undefined): void {
  for (const counter of counters) counter.beforeCommands([...COMMAND_KINDS.writes, ...COMMAND_KINDS.deletes], action)
}

function interceptCommands (counters: readonly FaultProxy[], action: ((kind: keyof IoCounts) => Promise<void>) | undefined): void {
  const kinds = Object.keys(COMMAND_KINDS) as Array<keyof IoCounts>
  const kindOf = (command: string): keyof IoCounts => kinds.find((kind) => COMMAND_KINDS[kind].includes(command)) as keyof IoCounts
  for (const counter of counters) {
    counter.beforeCommands(Object.values(COMMAND_KINDS).flat(), action === undefined ? undefined : async (command) => { await action(kindOf(command)) })
  }
}

const quiet = { log () {} }

/** A redis-server of its own, a client for the storages and one for raw access. */
export async function redisBackend (t: Teardown): Promise<StoreBackend> {
  const server = await startRedis(t)
  const counter = await FaultProxy.start(t, server.port)
  const client = new Redis({ host: '127.0.0.1', port: counter.port })
  const admin = new Redis({ host: '127.0.0.1', port: server.port })
  t.teardown(() => { client.disconnect(); admin.disconnect() })
  return {
    name: 'Redis',
    storage: (options) => new RedisStorage(client, options),
    rawGet: (key) => admin.getBuffer(key),
    rawSet: async (key, value) => { await admin.set(key, value) },
    rawDelete: async (key) => { await admin.del(key) },
    io: async () => countsOf(counter),
    flushScripts: async () => { await admin.script('FLUSH') },
    beforeWrites: (action) => { interceptWrites([counter], action) },
    beforeCommands: (action) => { interceptCommands([counter], action) },
    storedWrites: async () => await redisSets(admin),
    ttl: async (key) => redisTtl(await admin.ttl(key))
  }
}

/**
 * A 3-master Redis Cluster: the storages' `Cluster` client reaches each node through a
 * counting proxy of its own (ioredis `natMap`), the raw client directly.
 */
export async function redisClusterBackend (t: Teardown): Promise<StoreBackend> {
  const nodes = await startRedisCluster(t)
  const counters = await Promise.all(nodes.map(async (node) => await FaultProxy.start(t, node.port)))
  const natMap = Object.fromEntries(nodes.map((node, index) => [node.address, { host: '127.0.0.1', port: counters[index]!.port }]))
  const client = new Cluster([{ host: '127.0.0.1', port: counters[0]!.port }], { natMap })
  const admin = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }])
  t.teardown(() => { client.disconnect(); admin.disconnect() })
  return {
    name: 'Redis Cluster',
    storage: (options) => new RedisStorage(client, options),
    rawGet: (key) => admin.getBuffer(key),
    rawSet: async (key, value) => { await admin.set(key, value) },
    rawDelete: async (key) => { await admin.del(key) },
    io: async () => sumCounts(counters.map(countsOf)),
    flushScripts: async () => { await Promise.all(admin.nodes('master').map(async (node) => await node.script('FLUSH'))) },
    beforeWrites: (action) => { interceptWrites(counters, action) },
    beforeCommands: (action) => { interceptCommands(counters, action) },
    storedWrites: async () => (await Promise.all(admin.nodes('master').map(async (node) => await redisSets(node)))).reduce((sum, next) => sum + next, 0),
    ttl: async (key) => redisTtl(await admin.ttl(key))
  }
}

/** A memcached of its own, a client for the storages and one for raw access. */
export async function memcachedBackend (t: Teardown): Promise<StoreBackend> {
  const server = await startMemcached(t)
  const counter = await FaultProxy.start(t, server.port)
  const client = memjs.Client.create(counter.address)
  const admin = memjs.Client.create(server.address, { logger: quiet })
  t.teardown(() => { client.close(); admin.close() })
  return {
    name: 'Memcached',
    storage: (options) => new MemcachedStorage(client, options),
    rawGet: async (key) => (await admin.get(key)).value,
    rawSet: async (key, value) => { await admin.set(key, value, {}) },
    rawDelete: async (key) => { await admin.delete(key) },
    io: async () => countsOf(counter),
    flushScripts: async () => {},
    beforeWrites: (action) => { interceptWrites([counter], action) },
    beforeCommands: (action) => { interceptCommands([counter], action) },
    storedWrites: async () => await memcachedItemsStored([server.port]),
    ttl: async (key) => await memcachedTtl([server.port], key)
  }
}

/**
 * Two memcached servers behind one client, which spreads the keys over them; each
 * reached through a counting proxy, in the same order as the raw client lists them (memjs
 * picks a server by the key's hash and the server's place in the list).
 */
export async function memcachedPairBackend (t: Teardown): Promise<StoreBackend> {
  const servers = [await startMemcached(t), await startMemcached(t)]
  const counters = await Promise.all(servers.map(async (server) => await FaultProxy.start(t, server.port)))
  const client = memjs.Client.create(counters.map((counter) => counter.address).join(','))
  const admin = memjs.Client.create(servers.map((server) => server.address).join(','), { logger: quiet })
  t.teardown(() => { client.close(); admin.close() })
  return {
    name: 'Memcached (two servers)',
    storage: (options) => new MemcachedStorage(client, options),
    rawGet: async (key) => (await admin.get(key)).value,
    rawSet: async (key, value) => { await admin.set(key, value, {}) },
    rawDelete: async (key) => { await admin.delete(key) },
    io: async () => sumCounts(counters.map(countsOf)),
    flushScripts: async () => {},
    beforeWrites: (action) => { interceptWrites(counters, action) },
    beforeCommands: (action) => { interceptCommands(counters, action) },
    storedWrites: async () => await memcachedItemsStored(servers.map((server) => server.port)),
    ttl: async (key) => await memcachedTtl(servers.map((server) => server.port), key)
  }
}

function sumCounts (counts: readonly IoCounts[]): IoCounts {
  return counts.reduce((sum, next) => ({ reads: sum.reads + next.reads, writes: sum.writes + next.writes, deletes: sum.deletes + next.deletes }))
}

/** Runs `action` and returns its result with the I/O the server answered meanwhile. */
export async function ioDuring<T> (backend: StoreBackend, action: () => Promise<T>): Promise<[T, IoCounts]> {
  const before = await backend.io()
  const result = await action()
  const after = await backend.io()
  return [result, { reads: after.reads - before.reads, writes: after.writes - before.writes, deletes: after.deletes - before.deletes }]
}

/** Both stores, for tests that every server-side storage must pass. */
export const storeBackends = [redisBackend, memcachedBackend]

/**
 * The record key of session `id`: aiohttp-session's layout (`${cookieName}_${id}`),
 * written out here rather than asked of the storage.
 */
export function recordKey (id: string, cookieName = SESSION_COOKIE): string {
  return `${cookieName}_${id}`
}

/** The record key of the session whose cookie `response` sets. */
export function recordKeyOf (response: LightMyRequestResponse, cookieName = SESSION_COOKIE): string {
  return recordKey(cookieValue(response, cookieName), cookieName)
}
