/**
 * The two real stores behind the server-side storages, each with a storage factory,
 * raw access to its records that bypasses the storage, and the I/O its server has
 * answered, counted by the server itself (Redis `INFO commandstats`, memcached `stats`).
 */
import type { LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import type { StoreStorage, StoreStorageOptions } from '../../lib/storage/store-storage.js'
import { MemcachedStorage } from '../../storages/memcached.js'
import { RedisStorage } from '../../storages/redis.js'
import { SESSION_COOKIE, cookieValue } from './cookies.js'
import { memcachedStats, startMemcached, startRedis } from './servers.js'
import type { Teardown } from './teardown.js'

/** How many reads, writes and deletes a server has answered. */
export interface IoCounts {
  reads: number
  writes: number
  deletes: number
}

/** One store under test. */
export interface StoreBackend {
  name: string
  storage (options?: StoreStorageOptions): StoreStorage
  rawGet (key: string): Promise<Buffer | null>
  rawSet (key: string, value: string | Buffer): Promise<void>
  /** What the server has answered so far. */
  io (): Promise<IoCounts>
}

const quiet = { log () {} }

/** A redis-server of its own, a client for the storages and one for raw access. */
export async function redisBackend (t: Teardown): Promise<StoreBackend> {
  const server = await startRedis(t)
  const client = new Redis({ host: '127.0.0.1', port: server.port })
  const admin = new Redis({ host: '127.0.0.1', port: server.port })
  t.teardown(() => { client.disconnect(); admin.disconnect() })
  return {
    name: 'Redis',
    storage: (options) => new RedisStorage(client, options),
    rawGet: (key) => admin.getBuffer(key),
    rawSet: async (key, value) => { await admin.set(key, value) },
    async io () {
      const stats = await admin.info('commandstats')
      const calls = (command: string): number => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0)
      // rawGet's own GETs count too: measure around requests only (ioDuring).
      return { reads: calls('get'), writes: calls('set'), deletes: calls('del') }
    }
  }
}

/** A memcached of its own, a client for the storages and one for raw access. */
export async function memcachedBackend (t: Teardown): Promise<StoreBackend> {
  const server = await startMemcached(t)
  const client = memjs.Client.create(server.address)
  const admin = memjs.Client.create(server.address, { logger: quiet })
  t.teardown(() => { client.close(); admin.close() })
  return {
    name: 'Memcached',
    storage: (options) => new MemcachedStorage(client, options),
    rawGet: async (key) => (await admin.get(key)).value,
    rawSet: async (key, value) => { await admin.set(key, value, {}) },
    async io () {
      const stats = await memcachedStats(server.port)
      return { reads: stats['cmd_get'] ?? 0, writes: stats['cmd_set'] ?? 0, deletes: (stats['delete_hits'] ?? 0) + (stats['delete_misses'] ?? 0) }
    }
  }
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
