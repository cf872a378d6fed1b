// Types only: the application passes its own memjs client, so nothing of memjs is
// loaded here and the package stays an optional peer dependency.
import type { Client } from 'memjs'
import { nowSeconds } from '../lib/clock.js'
import { readClient } from '../lib/storage/options.js'
import { StoreStorage } from '../lib/storage/store-storage.js'
import type { StoreStorageOptions } from '../lib/storage/store-storage.js'

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

/** What MemcachedStorage uses of a memjs client. */
const MEMJS_CLIENT_MEMBERS = { get: 'function', set: 'function', delete: 'function', servers: 'array' } as const

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
 */
export class MemcachedStorage extends StoreStorage {
  protected readonly storeName = 'Memcached'
  readonly #client: MemcachedClient

  constructor (client: MemcachedClient, options: StoreStorageOptions = {}) {
    super(options)
    this.#client = readClient(client, MEMJS_CLIENT_MEMBERS, "MemcachedStorage expects a memjs client, `memjs.Client.create('host:port')` " +
      "from the 'memjs' package (other Memcached clients are not supported)")
  }

  protected async readRecord (key: string): Promise<unknown> {
    return (await this.#client.get(key)).value
  }

  protected writeRecord (key: string, value: string, maxAge: number | undefined): Promise<unknown> {
    // memjs replaces an exptime of 0 by the client's own `expires` option (default 0).
    return this.#client.set(key, value, { expires: memcachedExptime(maxAge, nowSeconds()) })
  }

  protected deleteRecord (key: string): Promise<unknown> {
    return this.#client.delete(key)
  }
}
