import type { FastifyReply, FastifyRequest } from 'fastify'
import { AbstractStorage, SessionNotAvailableError, UNKNOWN_ID } from '../../index.js'
import type { Session } from '../../index.js'

/**
 * A server-side storage in the smallest form, as the README shows: records in a Map,
 * loaded asynchronously in onRequest. Counts its reads.
 */
export class MemoryStorage extends AbstractStorage {
  readonly records = new Map<string, string>()
  reads = 0
  #next = 0

  override async loadSession (request: FastifyRequest): Promise<Session> {
    const id = this.loadCookie(request)
    if (id === undefined) return this.newSession()
    this.reads++
    const text = this.records.get(id)
    if (text === undefined) return this.rejectSession(request, UNKNOWN_ID)
    const session = this.decodeSession(text, id)
    return typeof session === 'string' ? this.rejectSession(request, session) : session
  }

  override async saveSession (request: FastifyRequest, reply: FastifyReply | undefined, session: Session): Promise<void> {
    if (reply === undefined && !session.empty && session.identity !== this.loadCookie(request)) {
      throw new SessionNotAvailableError('a new session needs a reply to carry its cookie')
    }
    for (const id of this.staleIdentities(session)) this.records.delete(id)
    if (session.empty) {
      if (session.identity !== null) this.records.delete(session.identity)
      if (reply !== undefined && this.loadCookie(request) !== undefined) this.deleteCookie(reply)
      return
    }
    if (session.identity === null) session.setNewIdentity(`id${++this.#next}`)
    const id = session.identity as string
    this.records.set(id, this.encodeSession(session))
    if (reply !== undefined) this.saveCookie(reply, id, session.maxAge)
  }
}
