import type { FastifyReply, FastifyRequest } from 'fastify'
import { nowSeconds } from '../clock.js'
import { COOKIE_NAME, SetCookieBuilder, findCookie, quoteCookieValue, unquoteCookieValue } from '../wire/cookie.js'
import type { CookieAttributes, SameSite } from '../wire/cookie.js'
import { readEnvelope } from '../wire/envelope.js'
import type { SessionEnvelope } from '../wire/envelope.js'
import { SessionConfigError, SessionEncodingError, SessionTooLargeError, describeType } from '../errors.js'
import { normalizeMaxAge } from './numbers.js'
import { parsePythonJson } from '../wire/python-json.js'
import { Session, keyLiteral, keyPath } from '../session.js'
import { describeNonJsonValue, findNonJsonValue } from '../wire/json-value.js'
import { kStaleIdentities, kStorageBrand } from '../symbols.js'

export type { SessionEnvelope } from '../wire/envelope.js'

/** What browsers keep of one cookie, measured on `name=value` (RFC 6265 §6.1, and in practice). */
export const COOKIE_SIZE_LIMIT = 4096

export type SameSiteOption = SameSite | 'strict' | 'lax' | 'none' | false | null

/** Options every storage accepts: camelCase versions of aiohttp-session's. */
export interface StorageOptions {
  /** Cookie name; default `AIOHTTP_SESSION` (the same as aiohttp-session). */
  cookieName?: string
  domain?: string | undefined
  /** Session lifetime in seconds; default none (a browser-session cookie, no expiry). */
  maxAge?: number | undefined
  /** Default `/`. */
  path?: string
  /** Default false; set it in production (HTTPS). */
  secure?: boolean
  /** Default true. */
  httpOnly?: boolean
  /** Default `Lax`; `false` omits the attribute. `None` requires `secure: true`. */
  sameSite?: SameSiteOption
  /** CHIPS partitioned cookie; requires `secure: true`. */
  partitioned?: boolean
  /** Turns the envelope into text; default `JSON.stringify`. */
  encoder?: (envelope: SessionEnvelope) => string
  /** Turns text back into the envelope; default `JSON.parse` (also reading Python's `NaN`/`Infinity`). */
  decoder?: (text: string) => unknown
}

/** Why a stored session was not used. Logged, never sent to the client. */
export type LoadFailure = string

/** The reason for a session id the store does not know (never written, expired, deleted): routine. */
export const UNKNOWN_ID: LoadFailure = 'unknown or expired id'

const defaultEncoder = (envelope: SessionEnvelope): string => JSON.stringify(envelope)
const defaultDecoder = parsePythonJson

/** Characters allowed in Domain and Path: visible ASCII except `;` (which would start a new attribute). */
const ATTRIBUTE_VALUE = /^[\x21-\x3a\x3c-\x7e]*$/

/**
 * The base of every storage. A storage turns a request into a `Session`
 * (`loadSession`) and a changed `Session` into a cookie and, for server-side
 * storages, a stored record (`saveSession`). The helpers here do the shared work:
 * reading and writing the cookie in aiohttp-session's format, and turning the JSON
 * envelope into a Session and back.
 */
export abstract class AbstractStorage {
  readonly [kStorageBrand] = true
  readonly cookieName: string
  /** The default session lifetime in seconds, or undefined. */
  readonly maxAge: number | undefined
  readonly cookieOptions: Readonly<CookieAttributes>
  protected readonly encoder: (envelope: SessionEnvelope) => string
  protected readonly decoder: (text: string) => unknown
  readonly #setCookie: SetCookieBuilder

  constructor (options: StorageOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new SessionConfigError(`storage options must be an object; got ${describeType(options)}`)
    }
    this.cookieName = checkCookieName(options.cookieName ?? 'AIOHTTP_SESSION')
    this.maxAge = normalizeMaxAge(options.maxAge, 'maxAge')
    this.cookieOptions = Object.freeze(checkAttributes(this.cookieName, options))
    this.encoder = checkFunction(options.encoder, 'encoder') ?? this.defaultEncoder()
    this.decoder = checkFunction(options.decoder, 'decoder') ?? defaultDecoder
    this.#setCookie = new SetCookieBuilder(this.cookieName, this.cookieOptions)
  }

  /** The encoder used when the options give none: `JSON.stringify` of the envelope. */
  protected defaultEncoder (): (envelope: SessionEnvelope) => string {
    return defaultEncoder
  }

  /** Builds the request's session. May return a Promise (store-backed storages do). */
  abstract loadSession (request: FastifyRequest): Session | Promise<Session>

  /** Persists a changed session: sets or clears the cookie and writes the record. */
  abstract saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): void | Promise<void>

  /** A new, empty session with this storage's maxAge (aiohttp `new_session`). */
  newSession (): Session {
    return new Session({ maxAge: this.maxAge })
  }

  /** The session cookie's value (unquoted), or undefined when the request has none. */
  loadCookie (request: FastifyRequest): string | undefined {
    const raw = findCookie(request.headers.cookie, this.cookieName)
    return raw === undefined ? undefined : unquoteCookieValue(raw)
  }

  /**
   * Appends the session cookie to the reply (other Set-Cookie headers are kept).
   * Throws SessionTooLargeError rather than let a browser drop the cookie silently.
   */
  saveCookie (reply: FastifyReply, value: string, maxAge: number | undefined): void {
    const pair = this.#setCookie.pair(quoteCookieValue(value))
    if (pair.length > COOKIE_SIZE_LIMIT) throw new SessionTooLargeError(pair.length, COOKIE_SIZE_LIMIT)
    reply.header('set-cookie', this.#setCookie.build(pair, maxAge, nowSeconds()))
  }

  /** Appends a cookie that makes the browser forget the session cookie. */
  deleteCookie (reply: FastifyReply): void {
    reply.header('set-cookie', this.#setCookie.deletion())
  }

  /** The envelope text of a session: `{"created":…,"session":{…}}`, or `{}` when empty. */
  protected encodeSession (session: Session): string {
    const envelope: SessionEnvelope = session.empty ? {} : { created: session.created, session: session.toJSON() }
    let text: unknown
    try {
      text = this.encoder(envelope)
    } catch (error) {
      // The encoder's own error goes in `cause`, not in the message: loggers (pino's
      // err serializer) append the cause's message, so it shows once, not twice.
      throw new SessionEncodingError(`the session could not be encoded: ${this.#whyNotEncoded(session)}`, { cause: error })
    }
    if (typeof text !== 'string') {
      throw new SessionEncodingError(`the encoder must return a string; it returned ${describeType(text)}`)
    }
    return text
  }

  /**
   * Names the key the encoder fails on, and what in it, where that can be found: each
   * key is encoded alone. `set()` refuses values JSON cannot hold, but a value can
   * still change in place after it was set, and a custom encoder has rules of its own.
   */
  #whyNotEncoded (session: Session): string {
    const failing: string[] = []
    for (const [key, value] of session) {
      const alone: Record<string, unknown> = Object.create(null)
      alone[key] = value
      try {
        this.encoder({ created: session.created, session: alone })
      } catch {
        failing.push(key)
      }
    }
    const key = failing[0]
    // No key fails alone, or every one of several does: the encoder objects to the
    // whole (its size, its shape), not to one key.
    if (key === undefined || (failing.length === session.size && session.size > 1)) return 'the encoder threw'
    const problem = findNonJsonValue(session.get(key), keyPath(key))
    return problem === undefined ? `the encoder fails on the value of ${keyLiteral(key)}` : describeNonJsonValue(problem)
  }

  /**
   * Turns envelope text into a session, applying aiohttp-session's rules (see
   * `readEnvelope`). Returns the reason instead when the text gives no session.
   */
  protected decodeSession (text: string, identity: string | null = null): Session | LoadFailure {
    let envelope: unknown
    try {
      envelope = this.decoder(text)
    } catch {
      return 'the payload could not be decoded (not JSON?)'
    }
    const loaded = readEnvelope(envelope, this.maxAge, nowSeconds())
    if (typeof loaded === 'string') return loaded
    return new Session({ identity, data: loaded.data, isNew: false, created: loaded.created, maxAge: this.maxAge })
  }

  /**
   * Logs why a stored session was not used and returns a new one. Expired and empty
   * sessions are routine (debug); anything else is worth a warning, since it means a
   * wrong key, a tampered cookie or a broken client. The cookie itself is never logged.
   */
  protected rejectSession (request: FastifyRequest, reason: LoadFailure): Session {
    const routine = reason === 'expired' || reason === 'empty' || reason === UNKNOWN_ID
    const details = { cookieName: this.cookieName, reason }
    const message = 'fastify-sessions: the session cookie was not used; starting a new session'
    if (routine) request.log.debug(details, message)
    else request.log.warn(details, message)
    return this.newSession()
  }

  /** Identities that `invalidate()`, `regenerate()` or `newSession()` gave up, for deletion on save. */
  protected staleIdentities (session: Session): readonly string[] {
    return session[kStaleIdentities]
  }
}

function checkCookieName (name: unknown): string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) {
    throw new SessionConfigError(`cookieName must be a non-empty cookie token (letters, digits and !#$%&'*+-.^_\`|~); got ${typeof name === 'string' ? JSON.stringify(name) : describeType(name)}`)
  }
  return name
}

function checkFunction<T> (value: T | undefined, name: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new SessionConfigError(`${name} must be a function; got ${describeType(value)}`)
  }
  return value
}

function checkBoolean (value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw new SessionConfigError(`${name} must be a boolean; got ${describeType(value)}`)
  return value
}

function checkAttributeValue (value: unknown, name: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || value.length === 0 || !ATTRIBUTE_VALUE.test(value)) {
    throw new SessionConfigError(`${name} must be a non-empty string of visible ASCII characters without ';'; got ${typeof value === 'string' ? JSON.stringify(value) : describeType(value)}`)
  }
  return value
}

function checkSameSite (value: unknown): SameSite | undefined {
  if (value === undefined) return 'Lax'
  if (value === false || value === null) return undefined
  const normalized = typeof value === 'string' ? value.toLowerCase() : ''
  if (normalized === 'lax') return 'Lax'
  if (normalized === 'strict') return 'Strict'
  if (normalized === 'none') return 'None'
  throw new SessionConfigError(`sameSite must be 'Strict', 'Lax', 'None' or false; got ${typeof value === 'string' ? JSON.stringify(value) : describeType(value)}`)
}

/** Validates cookie attributes, including the combinations browsers silently reject. */
function checkAttributes (cookieName: string, options: StorageOptions): CookieAttributes {
  const path = checkAttributeValue(options.path, 'path') ?? '/'
  if (!path.startsWith('/')) throw new SessionConfigError(`path must start with '/'; got ${JSON.stringify(path)}`)
  const attributes: CookieAttributes = {
    domain: checkAttributeValue(options.domain, 'domain'),
    path,
    secure: checkBoolean(options.secure, 'secure', false),
    httpOnly: checkBoolean(options.httpOnly, 'httpOnly', true),
    sameSite: checkSameSite(options.sameSite),
    partitioned: checkBoolean(options.partitioned, 'partitioned', false)
  }
  const needsSecure = attributes.sameSite === 'None'
    ? "sameSite: 'None'"
    : attributes.partitioned
      ? 'partitioned: true'
      : cookieName.startsWith('__Secure-') || cookieName.startsWith('__Host-')
        ? `the cookie name prefix of ${JSON.stringify(cookieName)}`
        : undefined
  if (needsSecure !== undefined && !attributes.secure) {
    throw new SessionConfigError(`${needsSecure} requires secure: true (browsers reject the cookie otherwise)`)
  }
  if (cookieName.startsWith('__Host-') && (attributes.domain !== undefined || attributes.path !== '/')) {
    throw new SessionConfigError("a '__Host-' cookie must have path '/' and no domain (browsers reject it otherwise)")
  }
  return attributes
}

/** True for a storage from any copy of this package (ESM or CommonJS build). */
export function isStorage (value: unknown): value is AbstractStorage {
  return typeof value === 'object' && value !== null && (value as Partial<AbstractStorage>)[kStorageBrand] === true &&
    typeof (value as AbstractStorage).loadSession === 'function' && typeof (value as AbstractStorage).saveSession === 'function'
}
