/**
 * "A value, or why not": one convention wherever a cookie, a record, an envelope or an
 * id can be refused, from crypto and wire code up to the storages.
 *
 * - A check returns `LoadFailure | undefined`: the reason, or undefined when all is well.
 * - A result returns `Value | LoadFailure`, where `Value` is never a plain string (text
 *   is wrapped: `{ text }`), so `typeof result === 'string'` always means "refused".
 *
 * Refusing is not throwing: hostile or stale input gives a new session and a log line
 * with the reason, never an error. Reasons are logged, never sent to the client, and
 * never contain the cookie, the record or a key. Tests and logs match them: keep their
 * texts.
 *
 * This module imports nothing, so every layer can use it.
 */

/** Why a stored session was not used. Logged, never sent to the client. */
export type LoadFailure = string

/** The reason for a session id the store does not know (never written, expired, deleted): routine. */
export const UNKNOWN_ID: LoadFailure = 'unknown or expired id'

/** The session is older than maxAge (its envelope's `created`, or a Fernet token's timestamp): routine. */
export const EXPIRED: LoadFailure = 'expired'

/** The envelope is `{}`, as aiohttp-session writes for an invalidated session: routine. */
export const EMPTY: LoadFailure = 'empty'

/**
 * Routine reasons mean a session ended or never existed here, which happens all day
 * (logged at debug); any other means a wrong key, a tampered cookie or a broken client
 * (logged at warn).
 */
export function isRoutineFailure (reason: LoadFailure): boolean {
  return reason === EXPIRED || reason === EMPTY || reason === UNKNOWN_ID
}
