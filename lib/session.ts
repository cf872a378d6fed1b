import { nowSeconds } from './clock.js'
import { SessionEncodingError, SessionIdentityError, describeType } from './errors.js'
import { readMaxAge } from './storage/options.js'
import { kChanged, kChanges, kEnded, kLoaded, kRefresh, kRefreshOnly, kRevision, kSaved, kSessionBrand, kStaleIdentities } from './symbols.js'
import { describeNonJsonValue, findNonJsonValue, isIdentifierName, shorten } from './wire/json-value.js'
import type { JsonSafe } from './wire/json-value.js'

/**
 * The shape of session data. Augment it to type your keys:
 *
 * ```ts
 * declare module 'fastify-sessions' {
 *   interface SessionData { user: string; visits: number }
 * }
 * ```
 * after which `request.session.get('visits')` is `number | undefined`. Values must
 * survive JSON (strings, numbers, booleans, null, arrays and plain objects of those,
 * interfaces included): a field declared as a Date, Map, Set, function or bigint
 * cannot be set, and reads as a `NotJson` type that names the reason.
 */
export interface SessionData {
  [key: string]: unknown
}

/** A key of the session data. */
export type SessionKey = keyof SessionData & string

/**
 * What `set(key, value)` accepts: the declared type of the key when it has one (each
 * part that would not survive JSON becomes a `NotJson`), else any value whose type
 * survives JSON (`V`, inferred from the argument).
 */
export type SessionValue<K extends SessionKey, V = SessionData[K]> =
  unknown extends SessionData[K] ? JsonSafe<V> : JsonSafe<SessionData[K]>

/**
 * The stored form a session was loaded from: the base of the three-way merge that
 * keeps concurrent requests from undoing each other's changes. Internal.
 */
export interface LoadedRecord {
  /** The envelope text as it was read. */
  readonly text: string
  /** The store's version of the record (Redis: its bytes; Memcached: its CAS); undefined for cookies. */
  readonly version?: unknown
}

/** What a request did to its session since it was loaded (or last saved). Internal. */
export interface SessionChanges {
  /** Keys passed to `set`/`delete`, or removed by `clear`. */
  readonly touched: ReadonlySet<string>
  /** True after `changed()`: a loaded value may have been edited in place. */
  readonly editedInPlace: boolean
  /** The data as it stands now. */
  readonly data: ReadonlyMap<string, unknown>
  /** `created` as it stands now. */
  readonly created: number
  /**
   * The envelope text the data was loaded from, kept through `regenerate()` (which drops
   * the merge base): a key kept untouched is written back as the text it was read as.
   */
  readonly origin: string | undefined
}

export interface SessionInit {
  /** The storage key (Redis/Memcached id), or null. */
  identity?: string | null | undefined
  /** The initial data, as a plain object or as `[key, value]` entries. */
  data?: Readonly<Record<string, unknown>> | Iterable<readonly [string, unknown]> | null | undefined
  /** True when no stored session was loaded. Defaults to true. */
  isNew?: boolean | undefined
  /** Unix seconds; defaults to now. */
  created?: number | undefined
  /** Seconds, or undefined for a browser-session cookie. */
  maxAge?: number | undefined
}

/**
 * A session: a Map-like store of JSON-serialisable values plus the metadata of
 * aiohttp-session's `Session`. Storages build it; applications use `request.session`.
 *
 * Data lives in a `Map`, so keys such as `__proto__` or `constructor` in a cookie are
 * ordinary keys and cannot reach any prototype.
 */
export class Session implements Iterable<[SessionKey, SessionData[SessionKey]]> {
  #data: Map<string, unknown>
  #identity: string | null
  #isNew: boolean
  #created: number
  #maxAge: number | undefined
  #changed = false
  #staleIdentities: string[] = []
  #loaded: LoadedRecord | undefined
  #origin: string | undefined
  /**
   * Counts changes. A save notes the count when it encodes the session; changes made
   * while it waits for the store (a websocket handler that keeps going) stay to save.
   */
  #revision = 0
  /** Keys passed to `set`/`delete`, or removed by `clear`, each with the revision of its last change. */
  #touched = new Map<string, number>()
  /** The revision of the last `changed()`, or 0. */
  #editedAt = 0
  /** The revision of the last `invalidate()`/`regenerate()`, or 0. */
  #retiredAt = 0
  /** True while the only change to save is a rolling refresh (see `kRefresh`). */
  #refreshOnly = false

  constructor (init: SessionInit = {}) {
    this.#data = toMap(init.data)
    this.#identity = init.identity ?? null
    this.#isNew = init.isNew ?? true
    this.#created = init.created ?? nowSeconds()
    this.#maxAge = readMaxAge(init.maxAge, 'maxAge')
  }

  /** True when no stored session was loaded (aiohttp `new`). */
  /** True when the session must be saved at the end of the request. Internal. */
  get [kChanged] (): boolean {
    return this.#changed
  }

  set [kChanged] (value: boolean) {
    this.#changed = value
  }

  /** Identities given up by `invalidate()`/`regenerate()`/`newSession()`, to delete on save. Internal. */
  get [kStaleIdentities] (): string[] {
    return this.#staleIdentities
  }

  /**
   * The record this session was loaded from, or undefined for a new session and after
   * `invalidate()`/`regenerate()` (everything it holds is then this request's). Internal.
   */
  get [kLoaded] (): LoadedRecord | undefined {
    return this.#loaded
  }

  set [kLoaded] (loaded: LoadedRecord | undefined) {
    this.#loaded = loaded
    this.#origin = loaded?.text
  }

  /** What changed since the load: what a save merges into the record as it stands. Internal. */
  get [kChanges] (): SessionChanges {
    const touched = new Set(this.#touched.keys())
    return { touched, editedInPlace: this.#editedAt > 0, data: this.#data, created: this.#created, origin: this.#origin }
  }

  /** The count of changes so far: what a save passes to `[kSaved]` for the state it encoded. Internal. */
  get [kRevision] (): number {
    return this.#revision
  }

  /**
   * A rolling refresh: `created` becomes now, nothing else changes, and the plugin saves
   * the session at once. Internal.
   */
  [kRefresh] (): void {
    this.#created = nowSeconds()
    this.#refreshOnly = true
  }

  /**
   * True when the only change to save is a refresh: a store save then gives way to a
   * record that a concurrent request refreshed or changed meanwhile. Internal.
   */
  get [kRefreshOnly] (): boolean {
    return this.#refreshOnly
  }

  /**
   * Records a successful save of the session as it was at `revision`: it now is `loaded`
   * (the record as written) under `identity`, and what changed after `revision` (while
   * the store worked) is still to save, merged over that record. Internal.
   */
  [kSaved] (identity: string | null, loaded: LoadedRecord | undefined, revision: number): void {
    if (this.#retiredAt > revision) {
      // invalidate()/regenerate() ran while the save was under way: the session already
      // left the identity just written, so that record is one more to delete.
      if (identity !== null && !this.#staleIdentities.includes(identity)) this.#staleIdentities.push(identity)
      return
    }
    this.#identity = identity
    this.#isNew = identity === null ? this.#isNew : false
    this.#loaded = loaded
    this.#origin = loaded?.text
    for (const [key, touchedAt] of this.#touched) {
      if (touchedAt <= revision) this.#touched.delete(key)
    }
    if (this.#editedAt <= revision) this.#editedAt = 0
    this.#staleIdentities = []
    this.#changed = this.#revision > revision
    this.#refreshOnly = false
  }

  /**
   * A save found the record gone, emptied or expired (a concurrent logout, or an id
   * replaced): the session becomes what the next request with its cookie loads, a new
   * empty one, so code that keeps it (a websocket handler) stops acting for a user who
   * logged out. Nothing is left to save. Internal.
   */
  [kEnded] (): void {
    this.#data = new Map()
    this.#identity = null
    this.#isNew = true
    this.#created = nowSeconds()
    this.#loaded = undefined
    this.#origin = undefined
    this.#touched = new Map()
    this.#editedAt = 0
    this.#staleIdentities = []
    this.#changed = false
    this.#refreshOnly = false
  }

  get [kSessionBrand] (): true {
    return true
  }

  get isNew (): boolean {
    return this.#isNew
  }

  /** The storage key (Redis/Memcached id) or null; always null for cookie storages. */
  get identity (): string | null {
    return this.#identity
  }

  /** Unix seconds: creation or load time, refreshed by every `set`/`delete` (as in aiohttp). */
  get created (): number {
    return this.#created
  }

  /** True when the session holds no keys. */
  get empty (): boolean {
    return this.#data.size === 0
  }

  get size (): number {
    return this.#data.size
  }

  /** Lifetime in seconds for this response's cookie and record; defaults to the storage's. */
  get maxAge (): number | undefined {
    return this.#maxAge
  }

  set maxAge (value: number | undefined) {
    this.#maxAge = readMaxAge(value, 'session.maxAge')
  }

  get<K extends SessionKey> (key: K): JsonSafe<SessionData[K]> | undefined {
    return this.#data.get(key) as JsonSafe<SessionData[K]> | undefined
  }

  /**
   * Stores a value; `undefined` removes the key (as it would vanish from JSON anyway).
   * Throws a SessionEncodingError, naming the key and the path to the culprit, for a
   * value that would not read back as set (a Date, Map, Set, class instance,
   * function, bigint, symbol, NaN or Infinity, a cycle...): the next request would
   * otherwise get something else without a word.
   */
  set<K extends SessionKey, V = SessionData[K]> (key: K, value: SessionValue<K, V> | undefined): this {
    if (value === undefined) {
      this.delete(key)
      return this
    }
    const problem = findNonJsonValue(value, keyPath(key))
    if (problem !== undefined) {
      throw new SessionEncodingError(`session.set(${keyLiteral(key)}, …): ${describeNonJsonValue(problem)}`)
    }
    this.#data.set(key, value)
    this.#touch(key)
    return this
  }

  has (key: SessionKey): boolean {
    return this.#data.has(key)
  }

  /** Removes a key; returns whether it was there. Only a removal marks the session changed. */
  delete (key: SessionKey): boolean {
    const existed = this.#data.delete(key)
    if (existed) this.#touch(key)
    return existed
  }

  /** Removes every key. Clearing an empty session changes nothing. */
  clear (): void {
    if (this.#data.size === 0) return
    this.#touch()
    for (const key of this.#data.keys()) this.#touched.set(key, this.#revision)
    this.#data.clear()
  }

  keys (): IterableIterator<SessionKey> {
    return this.#data.keys()
  }

  values (): IterableIterator<SessionData[SessionKey]> {
    return this.#data.values()
  }

  entries (): IterableIterator<[SessionKey, SessionData[SessionKey]]> {
    return this.#data.entries()
  }

  [Symbol.iterator] (): IterableIterator<[SessionKey, SessionData[SessionKey]]> {
    return this.#data.entries()
  }

  /** The data as a plain (null-prototype) object. */
  toJSON (): Partial<SessionData> {
    const object: Record<string, unknown> = Object.create(null)
    for (const [key, value] of this.#data) object[key] = value
    return object
  }

  /** Marks the session changed; call it after mutating a nested value in place. */
  changed (): void {
    this.#changed = true
    this.#editedAt = ++this.#revision
    this.#refreshOnly = false
  }

  /**
   * Ends the session: drops all data, clears the cookie and deletes the server-side
   * record when the response is saved. Data set afterwards goes to a new identity.
   */
  invalidate (): void {
    this.#data.clear()
    this.#retireIdentity()
    this.#changed = true
    this.#refreshOnly = false
  }

  /** Chooses the identity of a new session (Redis/Memcached key); throws on a loaded one. */
  setNewIdentity (identity: string): void {
    if (!this.#isNew) {
      throw new SessionIdentityError("setNewIdentity() can't change the identity of a session that was loaded from storage; call request.newSession() first")
    }
    if (typeof identity !== 'string' || identity.length === 0) {
      throw new SessionIdentityError(`setNewIdentity() expects a non-empty string; got ${describeType(identity)}`)
    }
    this.#identity = identity
  }

  /**
   * Gives the session a new identity, keeping only the listed keys; the old record is
   * deleted when the response is saved. Use it on login and privilege changes to stop
   * session fixation (it is what `@fastify/passport` calls).
   */
  regenerate (keep: readonly SessionKey[] = []): void {
    const kept = new Map<string, unknown>()
    for (const key of keep) {
      if (this.#data.has(key)) kept.set(key, this.#data.get(key))
    }
    this.#data = kept
    this.#retireIdentity()
    this.#isNew = true
    this.#created = nowSeconds()
    this.#changed = true
    this.#refreshOnly = false
  }

  #touch (key?: string): void {
    this.#revision++
    if (key !== undefined) this.#touched.set(key, this.#revision)
    this.#changed = true
    this.#refreshOnly = false
    this.#created = nowSeconds()
  }

  /**
   * Gives up the identity (its record is deleted on save) and the loaded record with it:
   * whatever the session holds from now on is this request's, written under a new id.
   */
  #retireIdentity (): void {
    if (this.#identity !== null) this.#staleIdentities.push(this.#identity)
    this.#identity = null
    this.#loaded = undefined
    this.#retiredAt = ++this.#revision
  }

  /** Shows the metadata and the keys, never the values (which may be secrets). */
  [Symbol.for('nodejs.util.inspect.custom')] (): string {
    return `Session [new: ${this.#isNew}, changed: ${this.#changed}, created: ${this.#created}] ` +
      `{ keys: ${JSON.stringify([...this.#data.keys()])} }`
  }
}

function toMap (data: SessionInit['data']): Map<string, unknown> {
  if (data === undefined || data === null) return new Map()
  if (isIterable(data)) return new Map(data)
  const map = new Map<string, unknown>()
  for (const key of Object.keys(data)) map.set(key, data[key])
  return map
}

function isIterable (value: object): value is Iterable<readonly [string, unknown]> {
  return typeof (value as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function'
}

/** A key as a JavaScript string literal, for messages: `'user'`. */
export function keyLiteral (key: string): string {
  const escaped = JSON.stringify(shorten(key)).slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'")
  return `'${escaped}'`
}

/** Where a key's value starts in a path, for messages: `user`, or `session.get("a b")`. */
export function keyPath (key: string): string {
  return isIdentifierName(key) ? key : `session.get(${JSON.stringify(shorten(key))})`
}

/** True for a Session from any copy of this package. */
export function isSession (value: unknown): value is Session {
  return typeof value === 'object' && value !== null && (value as Partial<Session>)[kSessionBrand] === true
}
