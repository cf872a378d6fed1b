// Types only: the application passes its own ioredis client, so nothing of ioredis is
// loaded here and the package stays an optional peer dependency.
import type { Cluster, Redis } from 'ioredis'
import type { LoadFailure } from '../lib/load-failure.js'
import { readClient } from '../lib/storage/options.js'
import { StoreStorage } from '../lib/storage/store-storage.js'
import type { StoreStorageOptions } from '../lib/storage/store-storage.js'

export type { StoreStorageOptions } from '../lib/storage/store-storage.js'

/** An ioredis client: a single server (`new Redis()`) or a cluster (`new Cluster([...])`). */
export type RedisClient = Redis | Cluster

/**
 * Client states in which ioredis would park our command in its offline queue until a
 * reconnection that may never come (or come late and replay a stale write): while
 * the server is gone we fail at once instead. `wait`/`connecting`/`connect` are the
 * normal start-up states and are given the bounded wait.
 */
const DISCONNECTED_STATUSES: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end', 'disconnecting'])

/** What RedisStorage uses of an ioredis client. */
const REDIS_CLIENT_MEMBERS = { getBuffer: 'function', set: 'function', del: 'function', status: 'string' } as const

/**
 * Keeps sessions in Redis, exactly as aiohttp-session's `RedisStorage` does: the cookie
 * holds the id, the key `${cookieName}_${id}` holds the JSON envelope, written with
 * `SET key value EX maxAge` (no TTL without maxAge). Only single-key commands (GET,
 * SET, DEL) are used, so a Redis Cluster works as well as a single server.
 *
 * Unlike aiohttp-session, `invalidate()` deletes the record (instead of storing `{}`),
 * and the records given up by `newSession()`/`regenerate()` are deleted on save.
 *
 * `redis`: an ioredis `Redis` or `Cluster` (ioredis is an optional peer dependency:
 * `npm install ioredis`).
 */
export class RedisStorage extends StoreStorage {
  protected readonly storeName = 'Redis'
  readonly #redis: RedisClient

  constructor (redis: RedisClient, options: StoreStorageOptions = {}) {
    super(options)
    this.#redis = readClient(redis, REDIS_CLIENT_MEMBERS, 'RedisStorage expects an ioredis client, `new Redis({ host, port })` or ' +
      "`new Cluster([...])` from the 'ioredis' package (other Redis clients are not supported)")
  }

  protected readRecord (key: string): Promise<Buffer | null> {
    // Bytes, not text: invalid UTF-8 must be detected, not replaced by U+FFFD.
    return this.#redis.getBuffer(key)
  }

  protected writeRecord (key: string, value: string, maxAge: number | undefined): Promise<unknown> {
    return maxAge === undefined ? this.#redis.set(key, value) : this.#redis.set(key, value, 'EX', maxAge)
  }

  protected deleteRecord (key: string): Promise<unknown> {
    return this.#redis.del(key)
  }

  protected override clientUnavailable (): LoadFailure | undefined {
    const status = this.#redis.status
    return DISCONNECTED_STATUSES.has(status) ? `the Redis client is not connected (status: ${status})` : undefined
  }
}
