import { isUtf8 } from 'node:buffer'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { nowMilliseconds } from '../clock.js'
import { FastifySessionsError, SessionIdentityError, SessionStorageError, SessionTooLargeError, describeType } from '../errors.js'
import type { Session } from '../session.js'
import { AbstractStorage } from './abstract-storage.js'
import { CircuitBreaker } from './circuit-breaker.js'
import type { Permit, Refusal, StateChange } from './circuit-breaker.js'
import { UNKNOWN_ID } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { STORE_STORAGE_OPTIONS } from './options.js'
import type { OptionSchema, StoreStorageOptions, StoreStorageSettings } from './options.js'
import { checkSessionId } from './session-ids.js'
import { kLoadsNothingWithoutCookie } from '../symbols.js'

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
 * gets a cookie for a write that did not happen. After `circuitBreaker.failureThreshold`
 * failures in a row, requests fail at once, without sending the store anything, until a
 * probe after the cool-down finds it back (see circuit-breaker.ts). Records are bounded
 * by `maxRecordBytes`, both ways.
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
  readonly #maxRecordBytes: number
  /** Undefined when `circuitBreaker: false`. */
  readonly #breaker: CircuitBreaker | undefined

  /** The server's name for messages: 'Redis', 'Memcached'. */
  protected abstract readonly storeName: string

  constructor (options: StoreStorageOptions = {}) {
    super(options)
    this.#keyPrefix = this.cookieName + '_'
    this.#keyFactory = this.settings.keyFactory
    this.timeout = this.settings.timeout
    this.#maxRecordBytes = this.settings.maxRecordBytes
    const breaker = this.settings.circuitBreaker
    this.#breaker = breaker === false
      ? undefined
      : new CircuitBreaker({ ...breaker, probeTimeout: this.timeout, now: nowMilliseconds })
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
    const id = this.loadCookie(request)
    // No cookie: no I/O and no promise, so cookieless requests stay cheap.
    if (id === undefined) return this.newSession()
    const invalid = this.#checkId(id)
    if (invalid !== undefined) return this.rejectSession(request, `the cookie is not a valid session id (${invalid})`)
    return this.#loadRecord(request, id)
  }

  async #loadRecord (request: FastifyRequest, id: string): Promise<Session> {
    const stored = await this.#bounded(request.log, 'read', () => this.readRecord(this.recordKey(id)))
    const record = recordText(stored, this.#maxRecordBytes)
    if (typeof record === 'string') return this.rejectSession(request, record)
    const session = this.decodeSession(record.text, id)
    return typeof session === 'string' ? this.rejectSession(request, session) : session
  }

  /**
   * Writes the session, deleting the records of the identities it gave up (newSession,
   * regenerate, invalidate: the session-fixation guard), and sets or clears the cookie
   * only once the store has confirmed, so a failed write never leaves the client
   * holding an id that points nowhere.
   */
  async saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): Promise<void> {
    if (session.empty) {
      // Nothing to keep: delete rather than store `{}` (which aiohttp-session leaks
      // forever without maxAge). A new session never had a record of its own.
      const doomed = session.identity !== null && !session.isNew ? [session.identity] : []
      await this.#deleteRecords(request.log, this.#staleIds(session, doomed, null))
      if (this.loadCookie(request) !== undefined) this.deleteCookie(reply)
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
    this.#checkRecordSize(text)
    const stale = this.#staleIds(session, [], id)
    await this.#bounded(request.log, 'write', () => Promise.all([
      this.writeRecord(this.recordKey(id), text, session.maxAge),
      ...stale.map((staleId) => this.deleteRecord(this.recordKey(staleId)))
    ]))
    this.saveCookie(reply, id, session.maxAge)
  }

  async #deleteRecords (log: FastifyBaseLogger, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#bounded(log, 'delete', () => Promise.all(ids.map((id) => this.deleteRecord(this.recordKey(id)))))
  }

  /**
   * Refuses, before anything is sent, a record over `maxRecordBytes`: a session that
   * large is an application's bug, and the store would take it (Redis, up to 512 MB) or
   * refuse it with an error that looks like an outage (Memcached, over its item size
   * limit). Every write of a session record goes through here.
   */
  #checkRecordSize (text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a text near the limit is counted.
    if (text.length * 3 <= this.#maxRecordBytes) return
    const size = Buffer.byteLength(text, 'utf8')
    if (size > this.#maxRecordBytes) throw new SessionTooLargeError(size, this.#maxRecordBytes, 'record')
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
   * Runs one store operation within `timeout` milliseconds, if the circuit breaker lets
   * it. Failures and timeouts become a SessionStorageError (HTTP 503) whose message is
   * safe to show a client; the client's own error, which may name hosts and ports, is its
   * `cause` (logged). An error of ours (a FastifySessionsError, such as a record the
   * store refused as too large) passes through unchanged: the store did answer.
   *
   * Each operation's outcome reaches the breaker exactly once, whichever comes first:
   * the answer, the failure, the timeout. A permit whose outcome were lost would leave a
   * half-open breaker waiting for its probe forever.
   */
  #bounded<T> (log: FastifyBaseLogger, what: string, operation: () => Promise<T>): Promise<T> {
    const admission = this.#breaker?.admit()
    if (admission !== undefined && 'refusal' in admission) return Promise.reject(this.#refused(what, admission.refusal))
    if (admission?.change !== undefined) this.#logChange(log, admission.change)
    const permit = admission?.permit
    const unavailable = this.clientUnavailable()
    if (unavailable !== undefined) {
      const error = new SessionStorageError(`the session ${what} failed: ${unavailable}`)
      this.#report(log, permit, error)
      return Promise.reject(error)
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false
      const settle = (failure: SessionStorageError | undefined): boolean => {
        if (settled) return false
        settled = true
        clearTimeout(timer)
        this.#report(log, permit, failure)
        return true
      }
      const timer = setTimeout(() => {
        const error = new SessionStorageError(`${this.storeName} did not answer the session ${what} within ${this.timeout} ms`)
        if (settle(error)) reject(error)
      }, this.timeout)
      // Never keep a process alive just to report a timeout nobody waits for.
      timer.unref()
      let running: Promise<T>
      try {
        running = operation()
      } catch (error) {
        running = Promise.reject(error)
      }
      // Both handlers stay attached after a timeout, so an answer or a failure that
      // arrives late is consumed here and never becomes an unhandled rejection.
      running.then((value) => {
        if (settle(undefined)) resolve(value)
      }, (error: unknown) => {
        if (error instanceof FastifySessionsError) {
          if (settle(undefined)) reject(error)
          return
        }
        const failure = new SessionStorageError(`the session ${what} on ${this.storeName} failed`, { cause: error })
        if (settle(failure)) reject(failure)
      })
    })
  }

  /** Tells the breaker how a permitted operation ended (a failure, or undefined: the store answered), and logs what that changed. */
  #report (log: FastifyBaseLogger, permit: Permit | undefined, failure: SessionStorageError | undefined): void {
    if (permit === undefined) return
    const breaker = this.#breaker as CircuitBreaker
    const change = failure === undefined ? breaker.succeeded(permit) : breaker.failed(permit)
    if (change !== undefined) this.#logChange(log, change, failure)
  }

  /** The 503 of a request the breaker did not let through; `Retry-After` says when to come back. */
  #refused (what: string, refusal: Refusal): SessionStorageError {
    const until = new Date(refusal.until).toISOString()
    const retryAfter = Math.max(1, Math.ceil((refusal.until - nowMilliseconds()) / 1000))
    const message = refusal.reason === 'open'
      ? `${this.storeName} is considered down after ${refusal.failures} failure(s) in a row: the session ${what} was not attempted; ` +
        `requests that need ${this.storeName} fail at once until ${until}`
      : `${this.storeName} is considered down: one request is checking whether it is back; the session ${what} was not attempted ` +
        `(retry after ${until})`
    return new SessionStorageError(message, { retryAfter })
  }

  /** Logs a change of the breaker's state, once: a warning when it opens (with the failure), otherwise info. */
  #logChange (log: FastifyBaseLogger, change: StateChange, failure?: SessionStorageError): void {
    const circuitBreaker = { ...change, until: change.until === undefined ? undefined : new Date(change.until).toISOString() }
    const store = this.storeName
    if (change.to === 'open') {
      const reason = change.from === 'half-open' ? 'still fails (the probe failed)' : `failed ${String(change.failures)} time(s) in a row`
      log.warn({ circuitBreaker, err: failure }, `fastify-sessions: ${store} ${reason}; requests that need it fail at once until ${circuitBreaker.until as string}`)
    } else if (change.to === 'half-open') {
      log.info({ circuitBreaker }, `fastify-sessions: the cool-down is over; one request checks whether ${store} is back`)
    } else {
      log.info({ circuitBreaker }, `fastify-sessions: ${store} answers again; requests use it again`)
    }
  }
}

/** A stored value as envelope text, or why it is unreadable (or too large to read). */
function recordText (stored: unknown, maxRecordBytes: number): { text: string } | LoadFailure {
  if (stored === null || stored === undefined) return UNKNOWN_ID
  if (typeof stored === 'string') {
    // Already decoded by the client, so invalid UTF-8 can no longer be told apart
    // from text: refuse it rather than guess (the fix is in the client's options).
    return 'the store client returned text instead of bytes; configure it to return Buffers'
  }
  if (!(stored instanceof Uint8Array)) return `the store client returned ${describeType(stored)} instead of bytes`
  // Another application may have written it; decoding megabytes per request is the harm
  // the limit is there to prevent, so the size is checked before anything else is.
  if (stored.byteLength > maxRecordBytes) return `the stored record is ${stored.byteLength} bytes, over maxRecordBytes (${maxRecordBytes})`
  if (!isUtf8(stored)) return 'the stored record is not valid UTF-8'
  return { text: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8') }
}
