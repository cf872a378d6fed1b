// Types only: the application passes its own memjs client, so nothing of memjs is
// loaded here and the package stays an optional peer dependency.
import type { Client } from 'memjs'
import { nowSeconds } from '../lib/clock.js'
import { SessionConfigError, SessionTooLargeError, describeType } from '../lib/errors.js'
import { MemcachedBinaryClient, MemcachedTooLargeError, isMemjsClient } from '../lib/storage/memcached-binary.js'
import { StoreStorage } from '../lib/storage/store-storage.js'
import type { ReplaceOutcome, StoreStorageOptions, StoredRecord } from '../lib/storage/store-storage.js'
import type { MemcachedCas, MemjsClient } from '../lib/storage/memcached-binary.js'

export type { StoreStorageOptions } from '../lib/storage/store-storage.js'

/** A memjs client (`memjs.Client.create('host:port[,host:port…]')`). */
export type MemcachedClient = Client<string | Buffer, unknown>

/**
 * Memcached reads an exptime up to 30 days as relative seconds and anything larger as
 * an absolute unix time.
 */
export const MEMCACHED_MAX_RELATIVE_EXPTIME = 30 * 24 * 3600

/**
 * The exptime memcached needs for a record that should live `maxAge` seconds from
 * `now`, with aiohttp-session's rule: 0 (never expire) without maxAge, relative
 * seconds up to 30 days, an absolute unix time above.
 */
export function memcachedExptime (maxAge: number | undefined, now: number): number {
  if (maxAge === undefined) return 0
  return maxAge > MEMCACHED_MAX_RELATIVE_EXPTIME ? now + maxAge : maxAge
}

/**
 * Keeps sessions in Memcached, exactly as aiohttp-session's `MemcachedStorage` does:
 * the cookie holds the id, the key `${cookieName}_${id}` holds the JSON envelope
 * (flags 0), with exptime = maxAge (absolute above 30 days, never without maxAge).
 * A client with several servers spreads the sessions over them by key.
 *
 * Unlike aiohttp-session, `invalidate()` deletes the record (instead of storing `{}`),
 * and the records given up by `newSession()`/`regenerate()` are deleted on save.
 *
 * `client`: a memjs client (memjs is an optional peer dependency: `npm install memjs`).
 * Records are read and written with memcached's binary protocol over the client's own
 * connections (the server for each key is the one memjs picks), as raw bytes with
 * flags 0 whatever serializer the client has; a connection that failed or timed out is
 * reset rather than reused (see lib/storage/memcached-binary.ts). A record memcached
 * refuses as over its item size limit is a SessionTooLargeError (500), as one over
 * `maxRecordBytes` is, never a 503.
 */
export class MemcachedStorage extends StoreStorage {
  protected readonly storeName = 'Memcached'
  readonly #memcached: MemcachedBinaryClient

  constructor (client: MemcachedClient, options: StoreStorageOptions = {}) {
    super(options)
    this.#memcached = new MemcachedBinaryClient(checkMemjsClient(client), { timeout: this.timeout })
  }

  protected async readRecord (key: string): Promise<StoredRecord | null> {
    // The CAS is the version: any write since (ours, another app's, Python's) changes it.
    const item = await this.#memcached.get(key)
    return item === null ? null : { value: item.value, version: item.cas }
  }

  protected async createRecord (key: string, value: string, maxAge: number | undefined): Promise<boolean> {
    const outcome = await this.#memcached.add(key, value, memcachedExptime(maxAge, nowSeconds())).catch(tooLargeAsSessionError)
    return outcome === 'stored'
  }

  protected async replaceRecord (key: string, value: string, maxAge: number | undefined, expected: StoredRecord): Promise<ReplaceOutcome> {
    const outcome = await this.#memcached.compareAndSet(key, value, memcachedExptime(maxAge, nowSeconds()), expected.version as MemcachedCas)
      .catch(tooLargeAsSessionError)
    // Memcached does not say what the record holds after a mismatch: the save reads it again.
    if (outcome === 'changed' || outcome === 'missing') return { outcome }
    return { outcome: 'stored' }
  }

  protected deleteRecord (key: string): Promise<boolean> {
    return this.#memcached.delete(key)
  }
}

/**
 * Memcached refusing a record over its item size limit (its `-I`, when it is below
 * `maxRecordBytes`) is the session's size, not an outage: the same SessionTooLargeError
 * (500) as a record over `maxRecordBytes`, rather than a 503 that sends people looking
 * for a failed server. Memcached does not say its limit.
 */
function tooLargeAsSessionError (error: unknown): never {
  throw error instanceof MemcachedTooLargeError ? new SessionTooLargeError(error.size, undefined, 'record', 'Memcached') : error
}

function checkMemjsClient (client: unknown): MemjsClient {
  if (isMemjsClient(client)) return client
  throw new SessionConfigError("MemcachedStorage expects a memjs client, `memjs.Client.create('host:port')` from the 'memjs' package " +
    `(other Memcached clients are not supported); got ${describeType(client)}`)
}
