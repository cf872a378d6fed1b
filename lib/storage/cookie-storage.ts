import { isUtf8 } from 'node:buffer'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { nowSeconds } from '../clock.js'
import type { Session } from '../session.js'
import { SessionNotAvailableError } from '../errors.js'
import { AbstractStorage } from './abstract-storage.js'
import type { SessionLogger } from './abstract-storage.js'
import type { Decrypted, Validity } from '../crypto/decrypted.js'
import type { LoadFailure } from '../load-failure.js'
import { COOKIE_STORAGE_OPTIONS } from './options.js'
import type { CookieStorageOptions, CookieStorageSettings, OptionSchema } from './options.js'
import { CREATED_CACHE_SIZE, RecentMap, isRefreshDue } from './rolling.js'
import { kKeepsSessionInCookie, kLoadsSynchronously, kUntouchedRefresh } from '../symbols.js'

export type { CookieStorageOptions } from './options.js'

/**
 * A cookie value opened by `openCookie`: the envelope text, which key opened it, and
 * for how long the cookie opens (a Fernet token's ttl).
 */
export interface OpenedCookie extends Validity {
  text: string
  /** 0 for the current key; higher for an older key (the cookie is then re-issued). */
  keyIndex: number
}

/**
 * Base of the storages that keep the whole session in the cookie. Loading is
 * synchronous and needs no I/O, so the plugin defers it to the first use of
 * `request.session`: a route that never looks at the session pays nothing.
 * Cookie storages have no identity: `session.identity` is always null.
 */
export abstract class CookieStorage extends AbstractStorage {
  override readonly [kLoadsSynchronously] = true
  override readonly [kKeepsSessionInCookie] = true
  protected declare readonly settings: CookieStorageSettings
  /** Recently opened cookies (value → what it opened to), oldest first; undefined when off. */
  readonly #opened: Map<string, OpenedCookie> | undefined
  readonly #cacheSize: number
  /**
   * With `rolling`: cookie values this storage opened or sealed → their envelope's
   * `created`, the most recent ones. A cookie value never changes, so what it maps to stays true;
   * and only values this storage authenticated (or made) get in, so a hit can only say
   * "young, nothing to do": a session is never built from it.
   */
  readonly #createdOf: RecentMap<number> | undefined

  constructor (options: CookieStorageOptions = {}) {
    super(options)
    this.#cacheSize = this.settings.cacheSize
    this.#opened = this.#cacheSize > 0 ? new Map() : undefined
    this.#createdOf = this.refreshAfter === undefined ? undefined : new RecentMap(CREATED_CACHE_SIZE)
  }

  /**
   * A route that never used `request.session` still refreshes the session (the user is
   * active), but should not pay a decryption to learn that the cookie is young: the
   * cookie's `created` is looked up first, and the cookie is opened only when it is
   * unknown here or due. Returns the loaded session when it may be due, else undefined.
   */
  override readonly [kUntouchedRefresh] = (request: FastifyRequest): Session | undefined => {
    const value = this.loadCookie(request)
    if (value === undefined) return undefined
    const created = this.#createdOf?.get(value)
    if (created !== undefined && !isRefreshDue(created, this.refreshAfter as number, this.maxAge as number, nowSeconds())) return undefined
    return this.#load(value, request.log)
  }

  protected override optionSchema (): OptionSchema<CookieStorageSettings> {
    return COOKIE_STORAGE_OPTIONS
  }

  /** Turns the cookie value into envelope text, or says why it cannot. */
  protected abstract openCookie (value: string): OpenedCookie | LoadFailure

  /** Turns envelope text into the cookie value. */
  protected abstract sealCookie (text: string): string

  loadSession (request: FastifyRequest): Session {
    return this.#load(this.loadCookie(request), request.log)
  }

  protected override loadFromCookieHeader (cookieHeader: string | undefined, log: SessionLogger): Session {
    return this.#load(this.cookieInHeader(cookieHeader), log)
  }

  /** The session in the cookie `value`, for a request and for a bare Cookie header alike. */
  #load (value: string | undefined, log: SessionLogger): Session {
    if (value === undefined) return this.newSession()
    const opened = this.#open(value)
    if (typeof opened === 'string') return this.newSessionInstead(log, opened)
    const session = this.decodeSession(opened.text)
    if (typeof session === 'string') return this.newSessionInstead(log, session)
    this.#rememberCreated(value, session.created)
    // Re-issue a cookie sealed by an older key under the current one, so retiring the
    // old key later does not log anybody out.
    if (opened.keyIndex > 0) session.changed()
    return session
  }

  /**
   * `openCookie`, remembering what authenticated cookies opened to. The cache is keyed
   * by the exact cookie value, so only a value that this storage's keys authenticated
   * before can hit; each request still decodes its own copy of the data, and the
   * envelope's age (and a Fernet token's ttl) is checked on every request.
   */
  #open (value: string): OpenedCookie | LoadFailure {
    const cache = this.#opened
    if (cache === undefined) return this.openCookie(value)
    const remembered = cache.get(value)
    if (remembered !== undefined) {
      if (stillOpens(remembered, nowSeconds())) return remembered
      cache.delete(value)
    }
    const opened = this.openCookie(value)
    if (typeof opened !== 'string') {
      if (cache.size >= this.#cacheSize) cache.delete(cache.keys().next().value as string)
      cache.set(value, opened)
    }
    return opened
  }

  /** Remembers the `created` of a cookie value this storage opened or sealed (with `rolling` only). */
  #rememberCreated (value: string, created: number): void {
    this.#createdOf?.set(value, created)
  }

  saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): void {
    if (reply === undefined) {
      // The plugin never asks this (request.saveSession() explains it with the route's
      // name); a direct caller gets the reason too, rather than a TypeError.
      throw new SessionNotAvailableError(`${this.constructor.name} keeps the session in the cookie: it cannot save one without a reply to carry the cookie`)
    }
    if (!session.empty) {
      const value = this.sealCookie(this.encodeSession(session))
      this.saveCookie(reply, value, session.maxAge)
      // What was written is the session's `created` (a merge keeps the later of the two).
      this.#rememberCreated(value, session.created)
    } else if (this.loadCookie(request) !== undefined) {
      // Only a browser that holds the cookie needs to be told to forget it.
      this.deleteCookie(reply)
    }
  }
}

/** A decrypted cookie as envelope text; invalid UTF-8 is refused, never guessed at. */
export function openedText (decrypted: Decrypted | LoadFailure): OpenedCookie | LoadFailure {
  if (typeof decrypted === 'string') return decrypted
  if (!isUtf8(decrypted.plaintext)) return 'the payload is not valid UTF-8'
  return { text: decrypted.plaintext.toString('utf8'), keyIndex: decrypted.keyIndex, validUntil: decrypted.validUntil, validFrom: decrypted.validFrom }
}

function stillOpens (opened: Validity, now: number): boolean {
  return (opened.validUntil === undefined || now <= opened.validUntil) && (opened.validFrom === undefined || now >= opened.validFrom)
}
