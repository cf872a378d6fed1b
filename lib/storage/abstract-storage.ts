import type { FastifyReply, FastifyRequest } from 'fastify'
import { nowSeconds } from '../clock.js'
import { SetCookieBuilder, findCookie, quoteCookieValue, unquoteCookieValue } from '../wire/cookie.js'
import type { CookieAttributes } from '../wire/cookie.js'
import { readEnvelope } from '../wire/envelope.js'
import type { SessionEnvelope } from '../wire/envelope.js'
import { InvalidSessionError, SessionEncodingError, SessionTooLargeError, describeType } from '../errors.js'
import { isRoutineFailure } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { STORAGE_OPTIONS, cookieAttributes, readOptions, refreshAfterOf } from './options.js'
import type { OptionSchema, StorageOptions, StorageSettings } from './options.js'
import { Session, isSession, keyLiteral, keyPath } from '../session.js'
import { WarningLimit } from './warning-limit.js'
import { describeNonJsonValue, findNonJsonValue } from '../wire/json-value.js'
import { PLAIN_HTTP_WARNING, dropsSecureCookie } from './plain-http.js'
import { scanEnvelope, writeEnvelope } from '../wire/raw-envelope.js'
import { kChanges, kKeepsSessionInCookie, kLoaded, kLoadsNothingWithoutCookie, kLoadsSynchronously, kStaleIdentities, kStorageBrand, kUntouchedRefresh } from '../symbols.js'
import { RawJson, changedKeys, freshRecord, mergeRecord } from './record-merge.js'
import type { RecordView } from './record-merge.js'

export type { SessionEnvelope } from '../wire/envelope.js'

/** What browsers keep of one cookie, measured on `name=value` (RFC 6265 §6.1, and in practice). */
export const COOKIE_SIZE_LIMIT = 4096

/**
 * Where a storage says why a stored session was not used: `request.log` in a request,
 * or the logger given to `loadSessionFromCookieHeader` (a pino or Fastify logger, or
 * `console`).
 */
export interface SessionLogger {
  debug (details: object, message: string): void
  warn (details: object, message: string): void
  /** The circuit breaker's recoveries (server-side storages), when given. */
  info?: (details: object, message: string) => void
}

export interface LoadFromCookieHeaderOptions {
  /** Receives the reason a cookie was not used (debug or warn); without it, nothing is logged. */
  logger?: SessionLogger | undefined
}

const silentLogger: SessionLogger = { debug () {}, warn () {} }

/**
 * The base of every storage. A storage turns a request into a `Session`
 * (`loadSession`) and a changed `Session` into a cookie and, for server-side
 * storages, a stored record (`saveSession`). The helpers here do the shared work:
 * reading and writing the cookie in aiohttp-session's format, and turning the JSON
 * envelope into a Session and back.
 */
export abstract class AbstractStorage {
  readonly [kStorageBrand] = true
  /**
   * True when `loadSession` is synchronous and needs no I/O (cookie storages): the plugin
   * then loads the session on the first use of `request.session`, not in onRequest.
   */
  readonly [kLoadsSynchronously]: boolean = false
  /**
   * True when a request without the session cookie has no stored session (server-side
   * storages): the plugin then skips the load hook's work for such requests.
   */
  readonly [kLoadsNothingWithoutCookie]: boolean = false
  /**
   * True when the whole session lives in the cookie (cookie storages): saving it needs a
   * reply to carry the cookie, and gains nothing before the reply goes out.
   */
  readonly [kKeepsSessionInCookie]: boolean = false
  /**
   * For a storage that loads on first use: the session that a request which never used
   * `request.session` must refresh (the `rolling` option), or undefined when none is due.
   * Without it, such requests never refresh.
   */
  readonly [kUntouchedRefresh]?: (request: FastifyRequest) => Session | undefined
  readonly cookieName: string
  /** The default session lifetime in seconds, or undefined. */
  readonly maxAge: number | undefined
  /**
   * Seconds after which a session that a request reads (and does not change) is saved
   * again with `created` = now (the `rolling` option); undefined when sessions do not roll.
   */
  readonly refreshAfter: number | undefined
  readonly cookieOptions: Readonly<CookieAttributes>
  protected readonly encoder: (envelope: SessionEnvelope) => string
  protected readonly decoder: (text: string) => unknown
  /** The options, checked and normalised once, with their defaults (frozen). */
  protected readonly settings: StorageSettings
  readonly #setCookie: SetCookieBuilder
  /** True while a Secure cookie sent over plain http would go unnoticed: until warned once. */
  #watchingForPlainHttp: boolean
  readonly #warnings = new WarningLimit()
  /**
   * True with the default encoder and decoder: stored members are then kept as the JSON
   * text they were read as, so what a request did not change is written back byte for
   * byte. A custom codec sees decoded values (its format need not even be JSON).
   */
  readonly #keepsRawMembers: boolean

  constructor (options: StorageOptions = {}) {
    const schema = this.optionSchema()
    this.settings = readOptions(schema, options, this.constructor.name)
    this.cookieName = this.settings.cookieName
    this.maxAge = this.settings.maxAge
    this.refreshAfter = refreshAfterOf(this.settings)
    this.cookieOptions = cookieAttributes(this.settings)
    this.encoder = this.settings.encoder
    this.decoder = this.settings.decoder
    this.#setCookie = new SetCookieBuilder(this.cookieName, this.cookieOptions)
    this.#watchingForPlainHttp = this.cookieOptions.secure
    this.#keepsRawMembers = this.encoder === schema.table.encoder.default && this.decoder === schema.table.decoder.default
  }

  /**
   * The options this storage takes, with their defaults and checks (see
   * `lib/storage/options.ts`). Called once, by the constructor.
   */
  protected optionSchema (): OptionSchema<StorageSettings> {
    return STORAGE_OPTIONS
  }

  /** Builds the request's session. May return a Promise (store-backed storages do). */
  abstract loadSession (request: FastifyRequest): Session | Promise<Session>

  /**
   * Persists a changed session: sets or clears the cookie and writes the record.
   * `reply` is undefined when `request.saveSession()` is called where no reply can
   * carry a cookie any more (a websocket route, a hijacked or sent reply): then write
   * what needs no cookie, or throw a `SessionNotAvailableError` that says why not.
   */
  abstract saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): void | Promise<void>

  /** A new, empty session with this storage's maxAge (aiohttp `new_session`). */
  newSession (): Session {
    return new Session({ maxAge: this.maxAge })
  }

  /** The session cookie's value (unquoted), or undefined when the request has none. */
  loadCookie (request: FastifyRequest): string | undefined {
    return this.cookieInHeader(request.headers.cookie)
  }

  /** The session cookie's value (unquoted) in a `Cookie` header, or undefined. */
  protected cookieInHeader (cookieHeader: string | undefined): string | undefined {
    const raw = findCookie(cookieHeader, this.cookieName)
    return raw === undefined ? undefined : unquoteCookieValue(raw)
  }

  /**
   * The session a `Cookie` header names, where there is no Fastify request (a raw `ws`
   * server, socket.io, a worker), with the same rules as a request: an unreadable,
   * tampered, expired or unknown cookie gives a new session and a line through
   * `options.logger` (nothing without one), never an error. Only a storage failure
   * rejects (a `SessionStorageError` when Redis or Memcached cannot be read).
   */
  async loadSessionFromCookieHeader (cookieHeader: string | undefined, options: LoadFromCookieHeaderOptions = {}): Promise<Session> {
    const session: unknown = await this.loadFromCookieHeader(cookieHeader, options.logger ?? silentLogger)
    if (!isSession(session)) {
      throw new InvalidSessionError(`${this.constructor.name}.loadSession() must return a Session; it returned ${describeType(session)}`)
    }
    return session
  }

  /**
   * `loadSessionFromCookieHeader`'s work. This default serves storages that implement
   * only `loadSession(request)`: it hands them a stand-in request that has nothing but
   * `headers.cookie` and `log`. The built-in storages override it with the code path
   * their `loadSession` takes.
   */
  protected loadFromCookieHeader (cookieHeader: string | undefined, log: SessionLogger): Session | Promise<Session> {
    const standIn = { headers: cookieHeader === undefined ? {} : { cookie: cookieHeader }, log }
    return this.loadSession(standIn as unknown as FastifyRequest)
  }

  /**
   * Appends the session cookie to the reply (other Set-Cookie headers are kept).
   * Throws SessionTooLargeError rather than let a browser drop the cookie silently.
   */
  saveCookie (reply: FastifyReply, value: string, maxAge: number | undefined): void {
    const pair = this.#setCookie.pair(quoteCookieValue(value))
    if (pair.length > COOKIE_SIZE_LIMIT) throw new SessionTooLargeError(pair.length, COOKIE_SIZE_LIMIT)
    if (this.#watchingForPlainHttp) this.#warnOfPlainHttp(reply.request)
    reply.header('set-cookie', this.#setCookie.build(pair, maxAge, nowSeconds()))
  }

  /**
   * Logs, once, that a Secure cookie is being sent where browsers drop it (see
   * `plain-http.ts`): "my login does not stick" otherwise has no clue at all.
   */
  #warnOfPlainHttp (request: FastifyRequest): void {
    if (!dropsSecureCookie(request)) return
    this.#watchingForPlainHttp = false
    request.log.warn({ cookieName: this.cookieName, hostname: request.hostname }, PLAIN_HTTP_WARNING)
  }

  /** Appends a cookie that makes the browser forget the session cookie. */
  deleteCookie (reply: FastifyReply): void {
    reply.header('set-cookie', this.#setCookie.deletion())
  }

  /**
   * The envelope text of a session: `{"created":…,"session":{…}}`, or `{}` when empty.
   * A loaded session is written as the record it was loaded from with this request's
   * changes applied, so the keys it did not change keep their stored bytes.
   */
  protected encodeSession (session: Session): string {
    return this.encodeRecord(session.empty ? undefined : this.sessionRecord(session), session)
  }

  /**
   * What saving `session` writes over the record it was loaded from (as `theirs`, the
   * record as it stands now; by default the loaded record itself): a three-way merge
   * (see `record-merge.ts`). Without a loaded record, the session's data alone.
   */
  protected sessionRecord (session: Session, theirs?: RecordView): RecordView {
    const changes = session[kChanges]
    const base = this.#readableView(session[kLoaded]?.text)
    if (base !== undefined) return mergeRecord(changes, changedKeys(changes, base, this.#canonical), theirs ?? base)
    return freshRecord(changes, this.#readableView(changes.origin), this.#canonical)
  }

  /** The members of a record text, or undefined when there is none or it gives none. */
  #readableView (text: string | undefined): RecordView | undefined {
    if (text === undefined) return undefined
    const view = this.readRecordView(text)
    return typeof view === 'string' ? undefined : view
  }

  /**
   * Envelope text as members: with the default codec each member's exact JSON text
   * (`RawJson`), else the decoded values. No expiry is applied (see `isExpired`).
   */
  protected readRecordView (text: string): RecordView | LoadFailure {
    if (this.#keepsRawMembers) {
      const scanned = scanEnvelope(text)
      if (typeof scanned === 'string') return scanned
      const members = new Map<string, unknown>()
      for (const [key, raw] of scanned.members) members.set(key, new RawJson(raw))
      return { created: scanned.created ?? nowSeconds(), members }
    }
    let envelope: unknown
    try {
      envelope = this.decoder(text)
    } catch {
      return UNDECODABLE
    }
    const loaded = readEnvelope(envelope, undefined, nowSeconds())
    if (typeof loaded === 'string') return loaded
    return { created: loaded.created, members: new Map(Object.entries(loaded.data)) }
  }

  /** True when a record this old is past the storage's maxAge (aiohttp's rule: `now - created > maxAge`). */
  protected isExpired (record: RecordView): boolean {
    return this.maxAge !== undefined && nowSeconds() - record.created > this.maxAge
  }

  /** The text of a record (`{}` for undefined: an empty session), through the encoder. */
  protected encodeRecord (record: RecordView | undefined, session: Session): string {
    let text: unknown
    try {
      text = record === undefined ? this.encoder({}) : this.#writeRecord(record)
    } catch (error) {
      // Writing members knows which one has no JSON form: that is the whole story.
      if (error instanceof SessionEncodingError) throw error
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
   * The envelope text of members given as JSON texts, with the default encoder. Simple
   * cookies override it to escape non-ASCII as Python does.
   */
  protected envelopeText (created: number, members: Iterable<readonly [string, string]>): string {
    return writeEnvelope(created, members)
  }

  #writeRecord (record: RecordView): string {
    if (this.#keepsRawMembers) return this.envelopeText(record.created, memberTexts(record.members))
    const session: Record<string, unknown> = Object.create(null)
    for (const [key, value] of record.members) session[key] = value
    return this.encoder({ created: record.created, session })
  }

  /** Canonical JSON of a member, to tell a value edited in place from one read and left as it was. */
  readonly #canonical = (member: unknown): string | undefined => {
    try {
      return JSON.stringify(member instanceof RawJson ? this.decoder(member.text) : member)
    } catch {
      return undefined
    }
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
  protected decodeSession (text: string, identity: string | null = null, version?: unknown): Session | LoadFailure {
    let envelope: unknown
    try {
      envelope = this.decoder(text)
    } catch {
      return UNDECODABLE
    }
    const loaded = readEnvelope(envelope, this.maxAge, nowSeconds())
    if (typeof loaded === 'string') return loaded
    const session = new Session({ identity, data: loaded.data, isNew: false, created: loaded.created, maxAge: this.maxAge })
    // The base of the merge when it is saved, and the source of its untouched members' bytes.
    session[kLoaded] = { text, version }
    return session
  }

  /**
   * Logs why a stored session was not used and returns a new one. Expired and empty
   * sessions are routine (debug); anything else is worth a warning, since it means a
   * wrong key, a tampered cookie or a broken client, but at most WARNINGS_PER_MINUTE
   * a minute per storage: the rest go to debug (`rateLimited: true`) and the next
   * warning says how many (`suppressedWarnings`, `suppressedSince`). The cookie itself
   * is never logged.
   */
  protected rejectSession (request: FastifyRequest, reason: LoadFailure): Session {
    return this.newSessionInstead(request.log, reason)
  }

  /** `rejectSession` for code that has a logger rather than a request. */
  protected newSessionInstead (log: SessionLogger, reason: LoadFailure): Session {
    const details = { cookieName: this.cookieName, reason }
    const message = 'fastify-sessions: the session cookie was not used; starting a new session'
    if (isRoutineFailure(reason)) {
      log.debug(details, message)
    } else {
      const admitted = this.#warnings.admit(nowSeconds())
      if (admitted === false) log.debug({ ...details, rateLimited: true }, message)
      else log.warn({ ...details, ...admitted }, message)
    }
    return this.newSession()
  }

  /** Identities that `invalidate()`, `regenerate()` or `newSession()` gave up, for deletion on save. */
  protected staleIdentities (session: Session): readonly string[] {
    return session[kStaleIdentities]
  }
}

/** Why envelope text gave no session: the decoder refused it. */
const UNDECODABLE: LoadFailure = 'the payload could not be decoded (not JSON?)'

/** Members as JSON texts: a kept text as it is, a value as JSON.stringify writes it. */
function * memberTexts (members: ReadonlyMap<string, unknown>): Iterable<readonly [string, string]> {
  for (const [key, member] of members) {
    if (member instanceof RawJson) {
      yield [key, member.text]
      continue
    }
    const text: unknown = JSON.stringify(member)
    // set() refuses what JSON cannot hold, but a value can still change in place after it.
    if (typeof text !== 'string') {
      throw new SessionEncodingError(`the session could not be encoded: the value of ${keyLiteral(key)} has no JSON form (its toJSON() returned nothing)`)
    }
    yield [key, text]
  }
}

/** True for a storage from any copy of this package (ESM or CommonJS build). */
export function isStorage (value: unknown): value is AbstractStorage {
  return typeof value === 'object' && value !== null && (value as Partial<AbstractStorage>)[kStorageBrand] === true &&
    typeof (value as AbstractStorage).loadSession === 'function' && typeof (value as AbstractStorage).saveSession === 'function'
}
