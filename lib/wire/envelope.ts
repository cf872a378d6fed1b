import { EMPTY, EXPIRED } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { MAX_JSON_DEPTH, isNestedDeeperThan } from './json-value.js'

/**
 * The session envelope shared with aiohttp-session: `{"created": <int>, "session": {...}}`,
 * and `{}` for an empty session. These rules decide what a stored envelope yields.
 */

export interface SessionEnvelope {
  created?: number
  session?: Record<string, unknown>
}

/**
 * A session value nested deeper than `session.set()` accepts (MAX_JSON_DEPTH). Only a
 * forged cookie or a broken writer makes one; loading it would make the next save of
 * the session fail, since JSON.stringify cannot write back what is deep enough.
 */
export const TOO_DEEP: LoadFailure = `a session value is nested more than ${MAX_JSON_DEPTH} levels deep`

export interface LoadedEnvelope {
  data: Record<string, unknown>
  created: number
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Validates a decoded envelope and applies expiry (`now - created > maxAge`, with the
 * storage's maxAge, as aiohttp does). An envelope without `created` loads with
 * `created = now`, as in aiohttp. Session values nested deeper than `set()` accepts are
 * refused (TOO_DEEP), after expiry, which costs less to check. Returns the data or the
 * reason there is none.
 */
export function readEnvelope (envelope: unknown, maxAge: number | undefined, now: number): LoadedEnvelope | LoadFailure {
  if (!isPlainObject(envelope)) return 'not an object'
  if (Object.keys(envelope).length === 0) return EMPTY
  const created = Object.hasOwn(envelope, 'created') ? envelope['created'] : undefined
  const session = Object.hasOwn(envelope, 'session') ? envelope['session'] : undefined
  if (created !== undefined && !Number.isSafeInteger(created)) return 'created is not an integer'
  if (!isPlainObject(session)) return 'session is not an object'
  const createdAt = (created as number | undefined) ?? now
  if (maxAge !== undefined && now - createdAt > maxAge) return EXPIRED
  // The session object is one level; each of its values may have what set() accepts.
  if (isNestedDeeperThan(session, MAX_JSON_DEPTH + 1)) return TOO_DEEP
  return { data: session, created: createdAt }
}
