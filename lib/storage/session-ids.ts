import { randomUUID } from 'node:crypto'
import type { LoadFailure } from '../load-failure.js'

/**
 * The longest record key (`${cookieName}_${id}`), in bytes: memcached's key limit.
 * Redis would take longer keys, but one rule for both keeps ids portable between the
 * storages and keeps hostile cookies from turning into large lookups.
 */
export const MAX_RECORD_KEY_BYTES = 250

/** The length of a default id, to check at start-up that the cookie name leaves room for ids. */
export const DEFAULT_ID_LENGTH = 32

/**
 * Visible ASCII only: memcached keys may not contain whitespace or control characters,
 * and ASCII makes the character count the byte count.
 */
const SESSION_ID = /^[\x21-\x7e]+$/

/** aiohttp-session's default key: `uuid.uuid4().hex`. */
export function defaultKeyFactory (): string {
  return randomUUID().replaceAll('-', '')
}

/** Why `id` cannot follow `keyPrefix` in a record key (so it must not reach the server), or undefined. */
export function checkSessionId (keyPrefix: string, id: string): LoadFailure | undefined {
  if (!SESSION_ID.test(id)) return 'only visible ASCII characters are allowed, no spaces or control characters'
  if (keyPrefix.length + id.length > MAX_RECORD_KEY_BYTES) {
    return `the record key would be ${keyPrefix.length + id.length} bytes, over the ${MAX_RECORD_KEY_BYTES}-byte limit`
  }
  return undefined
}
