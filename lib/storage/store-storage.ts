import { isUtf8 } from 'node:buffer'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { nowMilliseconds, nowSeconds } from '../clock.js'
import { FastifySessionsError, SessionIdentityError, SessionNotAvailableError, SessionStorageError, SessionTooLargeError, describeType } from '../errors.js'
import type { Session } from '../session.js'
import { AbstractStorage } from './abstract-storage.js'
import type { SessionLogger } from './abstract-storage.js'
import { CircuitBreaker } from './circuit-breaker.js'
import type { Permit, Refusal, StateChange } from './circuit-breaker.js'
import type { RecordView } from './record-merge.js'
import { EXPIRED, UNKNOWN_ID } from '../load-failure.js'
import type { LoadFailure } from '../load-failure.js'
import { STORE_STORAGE_OPTIONS } from './options.js'
import type { OptionSchema, StoreStorageOptions, StoreStorageSettings } from './options.js'
import { checkSessionId } from './session-ids.js'
import { isRefreshDue } from './rolling.js'
import { kEnded, kLoaded, kLoadsNothingWithoutCookie, kRefreshOnly, kRevision, kSaved } from '../symbols.js'

export type { StoreStorageOptions } from './options.js'
export { MAX_RECORD_KEY_BYTES, defaultKeyFactory } from './session-ids.js'

/** A record as the store holds it: its bytes, and the version a compare-and-set checks. */
export interface StoredRecord {
  /** The record's bytes as the client returned them (checked to be UTF-8 bytes before use). */
  readonly value: unknown
  /** What tells this state of the record from any later one (Redis: the bytes; Memcached: the CAS). */
  readonly version: unknown
}

/** What a compare-and-set found: written, the record changed since (and what it holds now, when known), or gone. */
export type ReplaceOutcome =
  | { readonly outcome: 'stored', readonly version?: unknown }
  | { readonly outcome: 'changed', readonly current?: StoredRecord | null }
  | { readonly outcome: 'missing' }

/**
 * How many times a save tries to write before it gives up (all within `timeout`). A
 * failed attempt means another save of the session succeeded meanwhile, so when N
 * requests of one session save at once, each needs at most N attempts: 32 covers what
 * a browser sends at once (HTTP/1.1 opens 6 connections per host; an HTTP/2 page more).
 * Losing more races than that in a row means something rewrites the record
 * continuously, and the request fails (503) rather than spin.
 */
export const MAX_SAVE_ATTEMPTS = 32

/** How many fresh ids a new session tries when the key factory returns ids that exist. */
export const MAX_NEW_ID_ATTEMPTS = 3

/**
 * The base of storages that keep the session in a server (Redis, Memcached) and only
 * its id in the cookie, with aiohttp-session's layout: the record key is
 * `${cookieName}_${id}` and the value is the JSON envelope.
 *
 * A request with a cookie costs exactly one read, a request without one none, and a
 * save one write. Every operation is bounded by `timeout`: a slow or unreachable server
 * fails the request with a `SessionStorageError` (HTTP 503) instead of hanging it, and
 * the client never gets a cookie for a write that did not happen. After
 * `circuitBreaker.failureThreshold` store failures in a row, requests fail at once,
 * without sending the store anything, until a probe after the cool-down finds it back
 * (see circuit-breaker.ts). Records are bounded by `maxRecordBytes`, both ways.
 *
 * **Concurrent requests.** A save never writes blindly over the record. It applies what
 * the request changed to the record as it stands (a three-way merge, keys as opaque
 * values) and writes it only if nobody wrote in between (a compare-and-set), else merges
 * again. So overlapping requests that change different keys all keep their changes, and
 * for one key the request that saves last wins. A record that is gone, emptied (`{}`,
 * aiohttp's logout) or expired when a request saves means a concurrent request logged the
 * session out or replaced its id: that save is dropped, without a Set-Cookie, so a logout
 * is never undone. New ids are created only where no record exists.
 *
 * Subclasses implement the record operations for their client.
 */
export abstract class StoreStorage extends AbstractStorage {
  override readonly [kLoadsNothingWithoutCookie] = true
  protected declare readonly settings: StoreStorageSettings
  /** Milliseconds each store operation may take. */
  readonly timeout: number
  readonly #keyFactory: () => string
  readonly #keyPrefix: string
  /** Per record key, the last save of it this process started (see #saveInTurn). */
  readonly #savesInFlight = new Map<string, Promise<StoredRecord | undefined>>()
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

  /** The record under `key` (its bytes and version), or null/undefined when there is none. */
  protected abstract readRecord (key: string): Promise<StoredRecord | null | undefined>

  /** Creates the record only if `key` holds none: true when created, false when one exists. */
  protected abstract createRecord (key: string, value: string, maxAge: number | undefined): Promise<boolean>

  /**
   * Replaces the record under `key` by `value`, expiring after `maxAge` seconds (never when
   * undefined), only if it is still at `expected`'s version.
   */
  protected abstract replaceRecord (key: string, value: string, maxAge: number | undefined, expected: StoredRecord): Promise<ReplaceOutcome>

  /** Deletes the record under `key`, whatever it holds; a missing record is not an error. */
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
    const stored = await this.#bounded(log, 'read', () => this.readRecord(this.recordKey(id)))
    const record = recordText(stored?.value, this.#maxRecordBytes)
    if (typeof record === 'string') return this.newSessionInstead(log, record)
    // Another application may have written it: decoding megabytes per request is the harm
    // the limit is there to prevent.
    if ('oversize' in record) {
      return this.newSessionInstead(log, `the stored record is ${record.oversize} bytes, over maxRecordBytes (${this.#maxRecordBytes})`)
    }
    const session = this.decodeSession(record.text, id, stored?.version)
    return typeof session === 'string' ? this.newSessionInstead(log, session) : session
  }

  /**
   * Writes the session and sets or clears the cookie, only once the store has confirmed,
   * so a failed write never leaves the client holding an id that points nowhere.
   *
   * A session loaded from a record is merged into that record as it stands (see the class
   * comment); a new session, or one that gave up its identity (`newSession()`,
   * `regenerate()`, `invalidate()`), is written under a new id that no record has, and the
   * records of the identities it gave up are deleted (the session-fixation guard).
   *
   * Without a reply (`request.saveSession()` on a websocket route, a hijacked or sent
   * reply) it writes the record and sets no cookie, so only the session the request's
   * cookie names can be saved (or ended).
   */
  async saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): Promise<void> {
    if (reply === undefined) this.#checkSavableWithoutReply(request, session)
    const loaded = session[kLoaded]
    if (loaded !== undefined && session.identity !== null) {
      await this.#saveInTurn(request, reply, session, session.identity, { value: Buffer.from(loaded.text), version: loaded.version })
    } else {
      await this.#saveFresh(request, reply, session)
    }
  }

  /**
   * Saves of one record from this process go one at a time, each starting from what the
   * one before it wrote. Without the queue, N overlapping requests of a session (a page
   * firing XHRs) all compare-and-set against the record they loaded: every round one
   * wins and the others merge and try again, N²/2 writes in all (16 at once cost ~8
   * attempts each). In turn, each writes once. The compare-and-set still guards against
   * every other writer (other processes, aiohttp), and the wait counts against `timeout`.
   */
  async #saveInTurn (request: FastifyRequest, reply: FastifyReply | undefined, session: Session, id: string, loaded: StoredRecord): Promise<void> {
    const key = this.recordKey(id)
    const deadline = performance.now() + this.timeout
    const previous = this.#savesInFlight.get(key)
    const save = (async () => {
      // A failed or dropped save before ours says nothing about the record: start from ours.
      const written = previous === undefined ? undefined : await previous.catch(() => undefined)
      return await this.#saveLoaded(request, reply, session, id, written ?? loaded, deadline)
    })()
    this.#savesInFlight.set(key, save)
    try {
      await save
    } finally {
      if (this.#savesInFlight.get(key) === save) this.#savesInFlight.delete(key)
    }
  }

  /**
   * The compare-and-set loop: merge this request's changes into the record as it stands,
   * write if it did not change meanwhile, else merge into what it holds now. `current`
   * starts as the record the session was loaded from, or the one the previous save of
   * this process wrote (no extra read on the happy path). Resolves to what it wrote, or
   * undefined when the save was dropped.
   */
  async #saveLoaded (request: FastifyRequest, reply: FastifyReply | undefined, session: Session, id: string, current: StoredRecord, deadline: number): Promise<StoredRecord | undefined> {
    const key = this.recordKey(id)
    let state: StoredRecord | null | undefined = current
    for (let attempt = 1; attempt <= MAX_SAVE_ATTEMPTS; attempt++) {
      // The version is unknown after a write whose client does not report one (Memcached):
      // read the record again before comparing.
      if (state?.version === undefined) state = await this.#bounded(request.log, 'read', () => this.readRecord(key), deadline)
      const theirs = this.#liveRecord(state)
      if (typeof theirs === 'string') {
        this.#dropSave(request, session, theirs)
        return undefined
      }
      if (session[kRefreshOnly] && !this.#stillDue(theirs)) {
        // Another request refreshed or changed the session since this one read it: the
        // record is young again, so this refresh has nothing left to do. N requests that
        // all read an old session make one write between them, not N.
        request.log.debug({ cookieName: this.cookieName }, 'fastify-sessions: the session was refreshed or changed by a concurrent request; this refresh was dropped')
        return undefined
      }
      // A session emptied by delete()/clear() is a change like any other: its record stays
      // (empty), so a concurrent request's change to another key still lands. Only
      // invalidate(), newSession() and regenerate() end a record.
      const revision = session[kRevision]
      const text = this.encodeRecord(this.sessionRecord(session, theirs), session)
      // The merged record, which holds what concurrent writers added too: it can be over
      // the limit even though this request's own changes are small.
      this.#checkRecordSize(text)
      const expected: StoredRecord = state as StoredRecord
      // A `changed` or `missing` answer is the store working (for the breaker, a success):
      // only failures and timeouts count against it.
      const outcome = await this.#bounded(request.log, 'write', () => this.replaceRecord(key, text, session.maxAge, expected), deadline)
      if (outcome.outcome === 'missing') {
        this.#dropSave(request, session, LOGGED_OUT)
        return undefined
      }
      if (outcome.outcome === 'stored') {
        if (reply !== undefined) this.saveCookie(reply, id, session.maxAge)
        session[kSaved](id, { text, version: outcome.version }, revision)
        return { value: Buffer.from(text), version: outcome.version }
      }
      state = outcome.current === undefined ? { value: undefined, version: undefined } : outcome.current
    }
    throw new SessionStorageError(`the session write on ${this.storeName} lost ${MAX_SAVE_ATTEMPTS} races in a row to concurrent writes of the same session`)
  }

  /**
   * The record as it stands, if it is still a live session; otherwise why this request's
   * save must be dropped: the record is gone, emptied (`{}`: aiohttp-session's logout) or
   * expired, i.e. a concurrent request logged the session out or replaced its id (or it
   * timed out), and writing it again would undo that.
   *
   * A record another writer made bigger than `maxRecordBytes` meanwhile is not decoded
   * (the cost the limit prevents) and not written back: any merge that keeps it would be
   * over the limit too, so the save fails as too large and the record stays as it is.
   */
  #liveRecord (state: StoredRecord | null | undefined): RecordView | LoadFailure {
    if (state === null || state === undefined) return LOGGED_OUT
    const bytes = recordText(state.value, this.#maxRecordBytes)
    if (typeof bytes === 'string') return bytes
    if ('oversize' in bytes) throw new SessionTooLargeError(bytes.oversize, this.#maxRecordBytes, 'record')
    const record = this.readRecordView(bytes.text)
    if (typeof record === 'string') return record
    return this.isExpired(record) ? EXPIRED : record
  }

  /** True while the record as it stands is still due the rolling refresh this request makes. */
  #stillDue (record: RecordView): boolean {
    return isRefreshDue(record.created, this.refreshAfter as number, this.maxAge as number, nowSeconds())
  }

  /**
   * A save that would undo a concurrent logout or id change: dropped, without a Set-Cookie.
   * The session becomes a new, empty one, as the next request with this cookie would load
   * it: a handler that outlives the save (a websocket) sees the logout.
   */
  #dropSave (request: FastifyRequest, session: Session, reason: LoadFailure): void {
    request.log.debug({ cookieName: this.cookieName, reason },
      'fastify-sessions: the session changed under this request (logged out, replaced or expired); its changes were not saved')
    session[kEnded]()
  }

  /** A session with no record of its own yet: create one under a new id, retire the old ones. */
  async #saveFresh (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): Promise<void> {
    const revision = session[kRevision]
    if (session.empty) {
      // Nothing to keep: delete rather than store `{}` (which aiohttp-session leaks
      // forever without maxAge). A new session never had a record of its own.
      await this.#deleteRecords(request.log, this.#staleIds(session, null))
      if (reply !== undefined && this.loadCookie(request) !== undefined) this.deleteCookie(reply)
      session[kSaved](null, undefined, revision)
      return
    }
    const chosen = session.identity
    if (chosen !== null) {
      const invalid = this.#checkId(chosen)
      if (invalid !== undefined) {
        throw new SessionIdentityError(`the session identity cannot be a ${this.storeName} record id: ${invalid}`)
      }
    }
    const text = this.encodeSession(session)
    this.#checkRecordSize(text)
    const deadline = performance.now() + this.timeout
    let stale = this.#staleIds(session, chosen)
    if (chosen !== null && this.staleIdentities(session).includes(chosen)) {
      // setNewIdentity() chose the id this session gives up: that record is ours to
      // replace. It goes first, so the create below finds the key free.
      await this.#bounded(request.log, 'delete', () => this.deleteRecord(this.recordKey(chosen)), deadline)
    }
    for (let attempt = 1; attempt <= MAX_NEW_ID_ATTEMPTS; attempt++) {
      const id = chosen ?? this.#newId()
      const key = this.recordKey(id)
      const deletions = stale.map((staleId) => this.recordKey(staleId))
      const [created] = await this.#bounded(request.log, 'write', () => Promise.all([
        this.createRecord(key, text, session.maxAge),
        ...deletions.map((staleKey) => this.deleteRecord(staleKey))
      ]), deadline)
      stale = []
      if (created) {
        if (reply !== undefined) this.saveCookie(reply, id, session.maxAge)
        session[kSaved](id, { text, version: undefined }, revision)
        return
      }
      if (chosen !== null) {
        throw new SessionIdentityError('a session with the id given to setNewIdentity() already exists; ids must be new (it was not overwritten)')
      }
    }
    throw new SessionIdentityError(`keyFactory returned ${MAX_NEW_ID_ATTEMPTS} ids in a row that already have a record; ` +
      'ids must be unique (no record was overwritten)')
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

  async #deleteRecords (log: SessionLogger, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return
    await this.#bounded(log, 'delete', () => Promise.all(ids.map((id) => this.deleteRecord(this.recordKey(id)))))
  }

  /**
   * Refuses, before anything is sent, a record over `maxRecordBytes`: a session that
   * large is an application's bug, and the store would take it (Redis, up to 512 MB) or
   * refuse it with an error that looks like an outage (Memcached, over its item size
   * limit). Every write of a session record goes through here: a fresh session's text,
   * and in a compare-and-set loop each merged text, just before it is sent.
   */
  #checkRecordSize (text: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a text near the limit is counted.
    if (text.length * 3 <= this.#maxRecordBytes) return
    const size = Buffer.byteLength(text, 'utf8')
    if (size > this.#maxRecordBytes) throw new SessionTooLargeError(size, this.#maxRecordBytes, 'record')
  }

  /**
   * The ids whose records must go: those the session gave up, once each, without `keep`
   * (the id being written) and without ids we would never have written.
   */
  #staleIds (session: Session, keep: string | null): string[] {
    const ids = new Set(this.staleIdentities(session))
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
   * Runs one store operation within `timeout` milliseconds, or until `deadline` (a
   * `performance.now()` time) for the steps of one save, if the circuit breaker lets it.
   * Failures and timeouts become a SessionStorageError (HTTP 503) whose message is safe
   * to show a client; the client's own error, which may name hosts and ports, is its
   * `cause` (logged). An error of ours (a FastifySessionsError, such as a record the
   * store refused as too large) passes through unchanged: the store did answer.
   *
   * Each operation's outcome reaches the breaker exactly once, whichever comes first:
   * the answer, the failure, the timeout. A permit whose outcome were lost would leave a
   * half-open breaker waiting for its probe forever. Each step of a save is one
   * operation: a compare-and-set that finds the record changed is an answer (a success),
   * so a save that loses races to other writers never counts against the store.
   */
  #bounded<T> (log: SessionLogger, what: string, operation: () => Promise<T>, deadline = performance.now() + this.timeout): Promise<T> {
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
    // A step that starts past the deadline still goes out, with a timer of 0: it cannot
    // be answered before that fires, so it fails as a timeout like any other.
    const remaining = Math.max(0, Math.ceil(deadline - performance.now()))
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
      }, remaining)
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
  #report (log: SessionLogger, permit: Permit | undefined, failure: SessionStorageError | undefined): void {
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
  #logChange (log: SessionLogger, change: StateChange, failure?: SessionStorageError): void {
    const circuitBreaker = { ...change, until: change.until === undefined ? undefined : new Date(change.until).toISOString() }
    const store = this.storeName
    if (change.to === 'open') {
      const reason = change.from === 'half-open' ? 'still fails (the probe failed)' : `failed ${String(change.failures)} time(s) in a row`
      log.warn({ circuitBreaker, err: failure }, `fastify-sessions: ${store} ${reason}; requests that need it fail at once until ${circuitBreaker.until as string}`)
    } else if (change.to === 'half-open') {
      log.info?.({ circuitBreaker }, `fastify-sessions: the cool-down is over; one request checks whether ${store} is back`)
    } else {
      log.info?.({ circuitBreaker }, `fastify-sessions: ${store} answers again; requests use it again`)
    }
  }
}

/** Why a save found no live record: the session was logged out or its id replaced meanwhile. */
const LOGGED_OUT: LoadFailure = 'the record is gone (logged out or replaced by a concurrent request)'

/**
 * A stored value as envelope text; or why it is unreadable; or, for a record over
 * `maxRecordBytes`, only its size (checked before anything else, so it is not decoded).
 */
function recordText (stored: unknown, maxRecordBytes: number): { text: string } | { oversize: number } | LoadFailure {
  if (stored === null || stored === undefined) return UNKNOWN_ID
  if (typeof stored === 'string') {
    // Already decoded by the client, so invalid UTF-8 can no longer be told apart
    // from text: refuse it rather than guess (the fix is in the client's options).
    return 'the store client returned text instead of bytes; configure it to return Buffers'
  }
  if (!(stored instanceof Uint8Array)) return `the store client returned ${describeType(stored)} instead of bytes`
  if (stored.byteLength > maxRecordBytes) return { oversize: stored.byteLength }
  if (!isUtf8(stored)) return 'the stored record is not valid UTF-8'
  return { text: Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength).toString('utf8') }
}
