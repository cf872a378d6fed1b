// Types only: the application passes its own ioredis client, so nothing of ioredis is
// loaded here and the package stays an optional peer dependency.
import type { Cluster, Redis } from 'ioredis'
import type { LoadFailure } from '../lib/load-failure.js'
import { readClient } from '../lib/storage/options.js'
import { CompareAndSetScript } from '../lib/storage/redis-compare-and-set.js'
import { StoreStorage } from '../lib/storage/store-storage.js'
import type { ReplaceOutcome, StoreStorageOptions, StoredRecord } from '../lib/storage/store-storage.js'

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
const REDIS_CLIENT_MEMBERS = { getBuffer: 'function', set: 'function', del: 'function', callBuffer: 'function', status: 'string' } as const

/**
 * Keeps sessions in Redis, exactly as aiohttp-session's `RedisStorage` does: the cookie
 * holds the id, the key `${cookieName}_${id}` holds the JSON envelope, with a TTL of
 * maxAge (none without maxAge). A new session is created with `SET … NX EX`; a loaded
 * one is saved with a compare-and-set script (`EVALSHA`) that writes only over the bytes
 * the request merged into. Every command touches one key, so a Redis Cluster works as
 * well as a single server.
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
  readonly #compareAndSet: CompareAndSetScript

  constructor (redis: RedisClient, options: StoreStorageOptions = {}) {
    super(options)
    this.#redis = readClient(redis, REDIS_CLIENT_MEMBERS, 'RedisStorage expects an ioredis client, `new Redis({ host, port })` or ' +
      "`new Cluster([...])` from the 'ioredis' package (other Redis clients are not supported)")
    this.#compareAndSet = new CompareAndSetScript(this.#redis)
  }

  protected async readRecord (key: string): Promise<StoredRecord | null> {
    // Bytes, not text: invalid UTF-8 must be detected, not replaced by U+FFFD. The bytes
    // are also the version: the compare-and-set writes only over exactly these.
    const value: unknown = await this.#redis.getBuffer(key)
    return value === null ? null : { value, version: value }
  }

  protected async createRecord (key: string, value: string, maxAge: number | undefined): Promise<boolean> {
    const reply = maxAge === undefined ? await this.#redis.set(key, value, 'NX') : await this.#redis.set(key, value, 'EX', maxAge, 'NX')
    return reply === 'OK'
  }

  protected async replaceRecord (key: string, value: string, maxAge: number | undefined, expected: StoredRecord): Promise<ReplaceOutcome> {
    const outcome = await this.#compareAndSet.run(key, expected.version as Buffer, value, maxAge)
    if (outcome.outcome === 'stored') return { outcome: 'stored', version: Buffer.from(value) }
    if (outcome.outcome === 'missing') return outcome
    return { outcome: 'changed', current: { value: outcome.current, version: outcome.current } }
  }

  protected deleteRecord (key: string): Promise<unknown> {
    return this.#redis.del(key)
  }

  protected override clientUnavailable (): LoadFailure | undefined {
    const status = this.#redis.status
    return DISCONNECTED_STATUSES.has(status) ? `the Redis client is not connected (status: ${status})` : undefined
  }
}
