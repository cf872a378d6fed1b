import { SessionConfigError, describeType } from '../errors.js'

/**
 * Validates an option that must be a whole number from `min` to `max`; the error says
 * what was `expected` and shows what arrived (a number as such, anything else by kind).
 */
export function checkWholeNumber (value: unknown, what: string, min: number, max: number, expected: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const shown = typeof value === 'number' ? String(value) : describeType(value)
    throw new SessionConfigError(`${what} must be ${expected}; got ${shown}`)
  }
  return value
}

/**
 * Validates a max age in seconds: a positive integer, or undefined/null for none.
 * Zero is refused: a cookie with `Max-Age=0` is deleted at once and Redis rejects
 * `EX 0`; use `session.invalidate()` to end a session.
 */
export function normalizeMaxAge (value: unknown, what: string): number | undefined {
  if (value === undefined || value === null) return undefined
  return checkWholeNumber(value, what, 1, Number.MAX_SAFE_INTEGER, 'a whole number of seconds of at least 1, or undefined for none')
}
