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

/** What was too large: the session cookie, or the session's record in a server-side store. */
export type TooLargeSubject = 'cookie' | 'record'

/**
 * The session is too large to keep: its cookie would exceed what browsers keep (they drop
 * such a cookie without telling anyone, which looks like a random logout), or its record
 * would exceed a server-side storage's `maxRecordBytes`, or the store refused it as over
 * its own item size limit (Memcached). Failing loudly is kinder; a session that large is
 * a bug of the application, not an outage, hence a 500 and not a 503.
 */
export class SessionTooLargeError extends FastifySessionsError {
  /** Bytes: the cookie's `name=value`, or the record's encoded envelope. */
  readonly size: number
  /** Bytes allowed; undefined when the store refused the record without saying its limit (Memcached's `-I`). */
  readonly limit: number | undefined
  readonly subject: TooLargeSubject

  /** `store` names the server that refused a record when `limit` is unknown ('Memcached'). */
  constructor (size: number, limit: number | undefined, subject: TooLargeSubject = 'cookie', store = 'the store') {
    super('FST_SESSIONS_TOO_LARGE', `fastify-sessions: ${tooLargeMessage(size, limit, subject, store)}`)
    this.size = size
    this.limit = limit
    this.subject = subject
  }
}

function tooLargeMessage (size: number, limit: number | undefined, subject: TooLargeSubject, store: string): string {
  if (subject === 'cookie') {
    return `the session cookie would be ${size} bytes (name=value), over the ${String(limit)}-byte limit browsers keep; ` +
      'store less in the session, or use a server-side storage (Redis, Memcached)'
  }
  const advice = 'store less in the session (a session this large usually holds data that belongs in a database or a cache)'
  if (limit === undefined) {
    return `${store} refused the ${size}-byte session record as over its item size limit; ${advice}, ` +
      'or set maxRecordBytes below the server\'s limit so that such sessions are refused before they are sent'
  }
  return `the session record would be ${size} bytes, over the ${limit}-byte limit (maxRecordBytes); ${advice}, or raise maxRecordBytes`
}

export interface SessionStorageErrorOptions extends ErrorOptions {
  /** Seconds after which asking again makes sense; sent to the client as `Retry-After`. */
  retryAfter?: number
}

/** The session store could not be reached, did not answer in time, or answered with an error (HTTP 503). */
export class SessionStorageError extends FastifySessionsError {
  /**
   * Seconds after which the store is worth asking again (the storage's circuit breaker
   * is open); undefined when nobody knows.
   */
  readonly retryAfter: number | undefined
  /**
   * `Retry-After`, when `retryAfter` is known. Fastify's default error handler adds an
   * error's `headers` to the reply (as it does for http-errors); a custom error handler
   * can copy them with `reply.headers(error.headers)`. Absent otherwise (`declare`: no
   * own property until it is set).
   */
  declare readonly headers?: Readonly<Record<string, string>>

  constructor (message: string, options: SessionStorageErrorOptions = {}) {
    const { retryAfter, ...errorOptions } = options
    super('FST_SESSIONS_STORAGE', `fastify-sessions: ${message}`, 503, errorOptions)
    this.retryAfter = retryAfter
    if (retryAfter !== undefined) this.headers = { 'retry-after': String(retryAfter) }
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
