/**
 * Rolling sessions (the `rolling` option): when a session that a request read, and did
 * not change, is saved again with `created` = now. Expiry is decided by `created` inside
 * the envelope (aiohttp-session's rule, `now - created > maxAge`), so a refresh must
 * rewrite `created`: a TTL or `Max-Age` alone would not keep the session alive.
 */

/**
 * True when a session created at `created` (unix seconds) is due a refresh at `now`:
 * older than `refreshAfter`, and not past `maxAge` (a refresh never revives an expired
 * session).
 */
export function isRefreshDue (created: number, refreshAfter: number, maxAge: number, now: number): boolean {
  const age = now - created
  return age > refreshAfter && age <= maxAge
}

/**
 * At most how many cookie values a cookie storage remembers the `created` of, so that a
 * route that never reads the session learns whether its cookie is due a refresh without
 * decrypting it. Each entry is a cookie value (at most 4 KB, typically a few hundred
 * bytes) and a number.
 */
export const CREATED_CACHE_SIZE = 10_000

/**
 * A bounded map of recently used keys, in two generations of `size / 2`: lookups read
 * both, and when the young one is full it becomes the old one (the old one is dropped).
 * A key found in the old generation moves to the young one, so a key in use stays.
 *
 * Why not one Map evicting its oldest key: V8 leaves deleted slots in place until the
 * table is rebuilt, and `keys().next()` walks over them, so under churn each eviction
 * scans thousands of slots (~17 µs at 10,000 entries, more than a decryption).
 * Here every operation is O(1).
 */
export class RecentMap<Value> {
  readonly #generationSize: number
  #young = new Map<string, Value>()
  #old = new Map<string, Value>()

  constructor (size: number) {
    this.#generationSize = Math.max(1, Math.floor(size / 2))
  }

  get (key: string): Value | undefined {
    const young = this.#young.get(key)
    if (young !== undefined) return young
    const old = this.#old.get(key)
    if (old !== undefined) this.set(key, old)
    return old
  }

  set (key: string, value: Value): void {
    if (this.#young.size >= this.#generationSize) {
      this.#old = this.#young
      this.#young = new Map()
    }
    this.#young.set(key, value)
  }
}
