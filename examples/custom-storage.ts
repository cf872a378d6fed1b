/**
 * A storage of your own: sessions kept in a Map in this process, the cookie holding only
 * the session's id. docs/custom-storage.md walks through it; test/custom-storage-example.test.ts
 * runs it.
 *
 * A Map is enough for one process (tests, a single-instance tool). The same shape serves
 * any store you can reach with get / set / delete: replace the Map calls with the store's.
 *
 * This file imports the library from this repository's source; in an application import
 * from 'fastify-sessions' instead.
 */
import { randomBytes } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { AbstractStorage, UNKNOWN_ID } from '../index.js'
import type { Session, StorageOptions } from '../index.js'

interface StoredRecord {
  /** The envelope text, `{"created":…,"session":{…}}`, as encodeSession wrote it. */
  readonly text: string
  /** When the record may be forgotten (ms since the epoch), or undefined for never. */
  readonly expiresAt: number | undefined
}

export class MapStorage extends AbstractStorage {
  readonly #records = new Map<string, StoredRecord>()

  constructor (options: StorageOptions = {}) {
    super(options)
  }

  /** How many sessions are stored (expired ones included until they are next looked up). */
  get size (): number {
    return this.#records.size
  }

  override async loadSession (request: FastifyRequest): Promise<Session> {
    const id = this.loadCookie(request)
    // No cookie: a new, empty session, and no lookup at all.
    if (id === undefined) return this.newSession()
    const record = this.#records.get(id)
    if (record === undefined || (record.expiresAt !== undefined && record.expiresAt <= Date.now())) {
      this.#records.delete(id)
      // A new session, and a debug line saying why; never an error for a stale cookie.
      return this.rejectSession(request, UNKNOWN_ID)
    }
    // decodeSession applies aiohttp-session's rules and maxAge, and returns the reason
    // (a string) when the record gives no session.
    const session = this.decodeSession(record.text, id)
    return typeof session === 'string' ? this.rejectSession(request, session) : session
  }

  override async saveSession (request: FastifyRequest, reply: FastifyReply, session: Session): Promise<void> {
    // newSession(), regenerate() and invalidate() gave these ids up: delete them, so an id
    // known before a login is worthless after it (session fixation).
    for (const id of this.staleIdentities(session)) this.#records.delete(id)
    if (session.empty) {
      if (session.identity !== null) this.#records.delete(session.identity)
      // Clear the cookie only if the browser has one.
      if (this.loadCookie(request) !== undefined) this.deleteCookie(reply)
      return
    }
    // A new session gets a new, unguessable id here, never one the client sent.
    const id = session.identity ?? randomBytes(16).toString('hex')
    if (session.identity === null) session.setNewIdentity(id)
    const maxAge = session.maxAge
    this.#records.set(id, {
      text: this.encodeSession(session),
      expiresAt: maxAge === undefined ? undefined : Date.now() + maxAge * 1000
    })
    // The cookie goes out only once the record is stored.
    this.saveCookie(reply, id, maxAge)
  }
}
