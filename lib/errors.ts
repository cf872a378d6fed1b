/**
 * Typed errors. Each has a stable `code` (for logs and `switch`), and those that can
 * reach a client carry the `statusCode` Fastify's error handler uses.
 *
 * A class's code is its name in the `FST_SESSIONS_` namespace: without the `Session`
 * prefix and the `Error` suffix, in capitals with underscores (`SessionTooLargeError`:
 * `FST_SESSIONS_TOO_LARGE`, `InvalidSessionError`: `FST_SESSIONS_INVALID_SESSION`), so
 * either one names the other. Codes are spelled out rather than derived from the
 * class name at run time, which a minifier may change; a test checks the rule.
 */

export class FastifySessionsError extends Error {
  readonly code: string
  readonly statusCode: number

  constructor (code: string, message: string, statusCode = 500, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.statusCode = statusCode
  }

  override get name (): string {
    return this.constructor.name
  }
}

/**
 * Bad options (unknown names included), keys or registration: thrown at start-up. The
 * one exception is `session.maxAge = …` with a bad value in a handler: the same mistake
 * as a bad `maxAge` option, made per request, so the same class (HTTP 500).
 */
export class SessionConfigError extends FastifySessionsError {
  constructor (message: string) {
    super('FST_SESSIONS_CONFIG', `fastify-sessions: ${message}`)
  }
}

/** An optional peer dependency (sodium-native, ioredis, memjs) is not installed. */
export class MissingDependencyError extends FastifySessionsError {
  readonly dependency: string

  constructor (dependency: string, neededBy: string, options?: ErrorOptions) {
    super('FST_SESSIONS_MISSING_DEPENDENCY',
      `fastify-sessions: ${neededBy} needs the optional package '${dependency}'; install it with \`npm install ${dependency}\``,
      500, options)
    this.dependency = dependency
  }
}

/**
 * The session cookie would exceed what browsers keep. Browsers drop such a cookie
 * without telling anyone, which looks like a random logout; failing loudly is kinder.
 */
export class SessionTooLargeError extends FastifySessionsError {
  readonly size: number
  readonly limit: number

  constructor (size: number, limit: number) {
    super('FST_SESSIONS_TOO_LARGE',
      `fastify-sessions: the session cookie would be ${size} bytes (name=value), over the ${limit}-byte limit browsers keep; ` +
      'store less in the session, or use a server-side storage (Redis, Memcached)')
    this.size = size
    this.limit = limit
  }
}

/** The session store could not be reached, did not answer in time, or answered with an error (HTTP 503). */
export class SessionStorageError extends FastifySessionsError {
  constructor (message: string, options?: ErrorOptions) {
    super('FST_SESSIONS_STORAGE', `fastify-sessions: ${message}`, 503, options)
  }
}

/** `request.session` used where there is none: an opted-out route, or too early. */
export class SessionNotAvailableError extends FastifySessionsError {
  constructor (message: string) {
    super('FST_SESSIONS_NOT_AVAILABLE', `fastify-sessions: ${message}`)
  }
}

/** Misuse of a session's identity (`setNewIdentity` on a loaded session, a bad id). */
export class SessionIdentityError extends FastifySessionsError {
  constructor (message: string) {
    super('FST_SESSIONS_IDENTITY', `fastify-sessions: ${message}`)
  }
}

/** The encoder failed or returned something other than a string. */
export class SessionEncodingError extends FastifySessionsError {
  constructor (message: string, options?: ErrorOptions) {
    super('FST_SESSIONS_ENCODING', `fastify-sessions: ${message}`, 500, options)
  }
}

/** A custom storage's `loadSession` returned something that is not a `Session`. */
export class InvalidSessionError extends FastifySessionsError {
  constructor (message: string) {
    super('FST_SESSIONS_INVALID_SESSION', `fastify-sessions: ${message}`)
  }
}

/** A short description of a value's type for error messages, never its content. */
export function describeType (value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return `${value.constructor.name} of ${value.length} bytes`
  if (typeof value === 'string') return `a string of ${value.length} characters`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name
    return typeof name === 'string' && name !== 'Object' ? `an instance of ${name}` : 'a plain object'
  }
  return typeof value
}
