/** Unix time in whole seconds, the unit of `created`, `maxAge` and Fernet timestamps. */
export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}

/**
 * Unix time in milliseconds, read from `Date` at each call (so a test that fakes `Date`
 * moves every clock of the package at once).
 */
export function nowMilliseconds (): number {
  return Date.now()
}
