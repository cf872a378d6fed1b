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
 * How many cookie values a cookie storage remembers the `created` of, so that a route
 * that never reads the session learns whether its cookie is due a refresh without
 * decrypting it. Each entry is a cookie value (at most 4 KB, typically a few hundred
 * bytes) and a number.
 */
export const CREATED_CACHE_SIZE = 10_000
