/** Unix time in whole seconds, the unit of `created`, `maxAge` and Fernet timestamps. */
export function nowSeconds (): number {
  return Math.floor(Date.now() / 1000)
}
