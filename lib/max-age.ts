import { SessionConfigError, describeType } from './errors.js'

/**
 * Validates a max age in seconds: a positive integer, or undefined/null for none.
 * Zero is refused: a cookie with `Max-Age=0` is deleted at once and Redis rejects
 * `EX 0`; use `session.invalidate()` to end a session.
 */
export function normalizeMaxAge (value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    const shown = typeof value === 'number' ? String(value) : describeType(value)
    throw new SessionConfigError(`${what} must be a whole number of seconds of at least 1, or undefined for none; got ${shown}`)
  }
  return value
}
