/**
 * The two real stores behind the server-side storages, each with a storage factory,
 * raw access to its records that bypasses the storage, and the commands the storages'
 * client sent, counted on the wire by a proxy between it and the server (the server's
 * own counters would also count the commands a Redis script runs inside).
 */
import type { LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import memjs from 'memjs'
import type { StoreStorage, StoreStorageOptions } from '../../lib/storage/store-storage.js'
import { MemcachedStorage } from '../../storages/memcached.js'
import { RedisStorage } from '../../storages/redis.js'
import { SESSION_COOKIE, cookieValue } from './cookies.js'
import { FaultProxy } from './fault-proxy.js'
import { startMemcached, startRedis } from './servers.js'
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
  /** What the storages' client has sent so far. */
  io (): Promise<IoCounts>
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
    io: async () => countsOf(counter)
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
    io: async () => countsOf(counter)
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
