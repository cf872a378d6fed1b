import { isUtf8 } from 'node:buffer'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { SessionIdentityError, SessionNotAvailableError, SessionStorageError, describeType } from '../errors.js'
import type { Session } from '../session.js'
import { AbstractStorage } from './abstract-storage.js'
import type { SessionLogger } from './abstract-storage.js'
import { UNKNOWN_ID } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { STORE_STORAGE_OPTIONS } from './options.js'
import type { OptionSchema, StoreStorageOptions, StoreStorageSettings } from './options.js'
import { checkSessionId } from './session-ids.js'
import { kLoadsNothingWithoutCookie, kSavedAs } from '../symbols.js'

export type { StoreStorageOptions } from './options.js'
export { MAX_RECORD_KEY_BYTES, defaultKeyFactory } from './session-ids.js'

/**
 * The base of storages that keep the session in a server (Redis, Memcached) and only
 * its id in the cookie, with aiohttp-session's layout: the record key is
 * `${cookieName}_${id}` and the value is the JSON envelope.
 *
 * A request with a cookie costs exactly one read, a request without one none. Every
 * operation is bounded by `timeout`: a slow or unreachable server fails the request
 * with a `SessionStorageError` (HTTP 503) instead of hanging it, and the client never
 * gets a cookie for a write that did not happen.
 *
 * Subclasses implement the three record operations for their client.
 */
export abstract class StoreStorage extends AbstractStorage {
  override readonly [kLoadsNothingWithoutCookie] = true
  protected declare readonly settings: StoreStorageSettings
  /** Milliseconds each store operation may take. */
  readonly timeout: number
  readonly #keyFactory: () => string
  readonly #keyPrefix: string

  /** The server's name for messages: 'Redis', 'Memcached'. */
  protected abstract readonly storeName: string

  constructor (options: StoreStorageOptions = {}) {
    super(options)
    this.#keyPrefix = this.cookieName + '_'
    this.#keyFactory = this.settings.keyFactory
    this.timeout = this.settings.timeout
  }

  protected override optionSchema (): OptionSchema<StoreStorageSettings> {
    return STORE_STORAGE_OPTIONS
  }

  /** The record's bytes under `key`, or null/undefined when there is none. */
  protected abstract readRecord (key: string): Promise<unknown>

  /** Stores `value` under `key`, expiring after `maxAge` seconds (never when undefined). */
  protected abstract writeRecord (key: string, value: string, maxAge: number | undefined): Promise<unknown>

  /** Deletes the record under `key`; a missing record is not an error. */
  protected abstract deleteRecord (key: string): Promise<unknown>

  /**
   * Why the client cannot take a command right now (for instance it is reconnecting),
   * so the request fails at once instead of queueing; undefined when it can.
   */
  protected clientUnavailable (): LoadFailure | undefined {
    return undefined
  }

  /** The record key of a session id. */
  recordKey (id: string): string {
    return this.#keyPrefix + id
  }

  loadSession (request: FastifyRequest): Session | Promise<Session> {
    return this.#load(this.loadCookie(request), request.log)
  }

  protected override loadFromCookieHeader (cookieHeader: string | undefined, log: SessionLogger): Session | Promise<Session> {
    return this.#load(this.cookieInHeader(cookieHeader), log)
  }

  /** The session the cookie value `id` names, for a request and for a bare Cookie header alike. */
  #load (id: string | undefined, log: SessionLogger): Session | Promise<Session> {
    // No cookie: no I/O and no promise, so cookieless requests stay cheap.
    if (id === undefined) return this.newSession()
    const invalid = this.#checkId(id)
    if (invalid !== undefined) return this.newSessionInstead(log, `the cookie is not a valid session id (${invalid})`)
    return this.#loadRecord(log, id)
  }

  async #loadRecord (log: SessionLogger, id: string): Promise<Session> {
    const stored = await this.#bounded('read', () => this.readRecord(this.recordKey(id)))
    const record = recordText(stored)
    if (typeof record === 'string') return this.newSessionInstead(log, record)
    const session = this.decodeSession(record.text, id)
    return typeof session === 'string' ? this.newSessionInstead(log, session) : session
  }

  /**
   * Writes the session, deleting the records of the identities it gave up (newSession,
   * regenerate, invalidate: the session-fixation guard), and sets or clears the cookie
   * only once the store has confirmed, so a failed write never leaves the client
   * holding an id that points nowhere. Without a reply (`request.saveSession()` on a
   * websocket route) it writes the record and sets no cookie.
   */
  async saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): Promise<void> {
    if (reply === undefined) this.#checkSavableWithoutReply(request, session)
    if (session.empty) {
      // Nothing to keep: delete rather than store `{}` (which aiohttp-session leaks
      // forever without maxAge). A new session never had a record of its own.
      const doomed = session.identity !== null && !session.isNew ? [session.identity] : []
      await this.#deleteRecords(this.#staleIds(session, doomed, null))
      if (reply !== undefined && this.loadCookie(request) !== undefined) this.deleteCookie(reply)
      return
    }
    const id = session.identity ?? this.#newId()
    if (session.identity !== null) {
      const invalid = this.#checkId(id)
      if (invalid !== undefined) {
        throw new SessionIdentityError(`the session identity cannot be a ${this.storeName} record id: ${invalid}`)
      }
    }
    const text = this.encodeSession(session)
    const stale = this.#staleIds(session, [], id)
    await this.#bounded('write', () => Promise.all([
      this.writeRecord(this.recordKey(id), text, session.maxAge),
      ...stale.map((staleId) => this.deleteRecord(this.recordKey(staleId)))
    ]))
    // A second save in the same request (request.saveSession(), then onSend) must
    // write this record again, not mint another id and leave this one behind.
    if (session.identity === null) session[kSavedAs](id)
    if (reply !== undefined) this.saveCookie(reply, id, session.maxAge)
  }

  /**
   * Without a reply the client keeps the cookie it has, so only the session that cookie
   * names can be saved (or ended): a session that needs a new id would be written
   * where its client can never find it.
   */
  #checkSavableWithoutReply (request: FastifyRequest, session: Session): void {
    if (session.empty || session.identity === this.loadCookie(request)) return
    throw new SessionNotAvailableError(`${this.constructor.name} cannot save this session without a reply: it needs a new id ` +
      '(a new session, newSession(), regenerate(), or data set after invalidate()), which only a Set-Cookie can give the client, ' +
      'and no reply can carry one here (a websocket route, a hijacked or sent reply). Log in and out over HTTP; ' +
      'a websocket can change and save the session its cookie names.')
  }

  async #deleteRecords (ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#bounded('delete', () => Promise.all(ids.map((id) => this.deleteRecord(this.recordKey(id)))))
  }

  /**
   * The ids whose records must go: those the session gave up plus `extra`, once each,
   * without `keep` (the id being written) and without ids we would never have written.
   */
  #staleIds (session: Session, extra: readonly string[], keep: string | null): string[] {
    const ids = new Set([...this.staleIdentities(session), ...extra])
    if (keep !== null) ids.delete(keep)
    return [...ids].filter((id) => this.#checkId(id) === undefined)
  }

  #newId (): string {
    const id: unknown = this.#keyFactory()
    const invalid = typeof id === 'string' ? this.#checkId(id) : `it is ${describeType(id)}`
    if (invalid !== undefined) throw new SessionIdentityError(`keyFactory returned an unusable session id: ${invalid}`)
    return id as string
  }

  /** Why `id` cannot be a record id (so it must not reach the server), or undefined. */
  #checkId (id: string): LoadFailure | undefined {
    return checkSessionId(this.#keyPrefix, id)
  }

  /**
   * Runs one store operation within `timeout` milliseconds. Failures and timeouts
   * become a SessionStorageError (HTTP 503) whose message is safe to show a client;
   * the client's own error, which may name hosts and ports, is its `cause` (logged).
   */
  #bounded<T> (what: string, operation: () => Promise<T>): Promise<T> {
    const unavailable = this.clientUnavailable()
    if (unavailable !== undefined) {
      return Promise.reject(new SessionStorageError(`the session ${what} failed: ${unavailable}`))
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new SessionStorageError(`${this.storeName} did not answer the session ${what} within ${this.timeout} ms`))
      }, this.timeout)
      // Never keep a process alive just to report a timeout nobody waits for.
      timer.unref()
      // Both handlers stay attached after a timeout, so an answer or a failure that
      // arrives late is consumed here and never becomes an unhandled rejection.
      operation().then((value) => {
        clearTimeout(timer)
        resolve(value)
      }, (error: unknown) => {
        clearTimeout(timer)
        reject(new SessionStorageError(`the session ${what} on ${this.storeName} failed`, { cause: error }))
      })
    })
  }
}

/** A stored value as envelope text, or why it is unreadable. */
function recordText (stored: unknown): { text: string } | LoadFailure {
  if (stored === null || stored === undefined) return UNKNOWN_ID
  if (typeof stored === 'string') {
    // Already decoded by the client, so invalid UTF-8 can no longer be told apart
    // from text: refuse it rather than guess (the fix is in the client's options).
    return 'the store client returned text instead of bytes; configure it to return Buffers'
  }
  if (!(stored instanceof Uint8Array)) return `the store client returned ${describeType(stored)} instead of bytes`
  if (!isUtf8(stored)) return 'the stored record is not valid UTF-8'
  return { text: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8') }
}
